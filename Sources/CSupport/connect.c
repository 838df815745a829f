// Blocking stream connections with a bounded connect, for the callers outside an event loop:
// the one-byte heartbeat exchange (before any event loop exists), `parent stop`, the clock;
// and the blocking listener that must know each peer's CID (SwiftNIO gives no vsock peer
// address): the parent's credentials server.
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static long long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int connect_with_timeout(int fd, const struct sockaddr *address, socklen_t length, int timeout_ms) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    long long deadline = now_ms() + timeout_ms;
    int result;
    // A Unix socket whose listener's backlog is full says EAGAIN and has NOT started connecting
    // (poll would report it writable at once): try again until the deadline.
    while ((result = connect(fd, address, length)) < 0 && errno == EAGAIN && address->sa_family == AF_UNIX) {
        if (now_ms() >= deadline) { errno = ETIMEDOUT; return -1; }
        poll(NULL, 0, 10);
    }
    if (result < 0 && (errno == EINPROGRESS || errno == EAGAIN)) {
        struct pollfd waiting = { .fd = fd, .events = POLLOUT };
        int ready;
        do {
            long long left = deadline - now_ms();
            ready = poll(&waiting, 1, left > 0 ? (int)left : 0);
        } while (ready < 0 && errno == EINTR);
        if (ready == 0) { errno = ETIMEDOUT; return -1; }
        if (ready < 0) return -1;
        int error = 0;
        socklen_t size = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) { errno = error; return -1; }
        result = 0;
    }
    if (result == 0) fcntl(fd, F_SETFL, flags);
    return result;
}

/// Connects `fd` or closes it: returns the connected descriptor, or -1 with connect's errno.
static int connected_or_closed(int fd, const struct sockaddr *address, socklen_t length, int timeout_ms) {
    if (connect_with_timeout(fd, address, length, timeout_ms) == 0) return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static struct sockaddr_vm vsock_address(unsigned int cid, unsigned int port) {
    struct sockaddr_vm address;
    memset(&address, 0, sizeof address);
    address.svm_family = AF_VSOCK;
    address.svm_cid = cid;
    address.svm_port = port;
    return address;
}

int ei_connect_vsock(unsigned int cid, unsigned int port, int timeout_ms) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_vm address = vsock_address(cid, port);
    return connected_or_closed(fd, (struct sockaddr *)&address, sizeof address, timeout_ms);
}

static int unix_address(const char *path, struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(address->sun_path, path);
    return 0;
}

int ei_connect_unix(const char *path, int timeout_ms) {
    struct sockaddr_un address;
    if (unix_address(path, &address) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    return connected_or_closed(fd, (struct sockaddr *)&address, sizeof address, timeout_ms);
}

// The emulation's source address: abstract (no file), "ei-vsock-cid-<cid>-<pid>-<n>". Like a
// vsock source CID it says which side connects; unlike one, any local process could claim any
// CID, which is why only tests and laptops use the emulation.
#define SOURCE_PREFIX "ei-vsock-cid-"

int ei_connect_unix_as_cid(const char *path, unsigned int source_cid, int timeout_ms) {
    static unsigned int counter;
    struct sockaddr_un address;
    if (unix_address(path, &address) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un source;
    memset(&source, 0, sizeof source);
    source.sun_family = AF_UNIX;
    int length = snprintf(source.sun_path + 1, sizeof source.sun_path - 1, SOURCE_PREFIX "%u-%d-%u",
                          source_cid, (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    if (bind(fd, (struct sockaddr *)&source, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length)) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return connected_or_closed(fd, (struct sockaddr *)&address, sizeof address, timeout_ms);
}

static int listening_or_closed(int fd, const struct sockaddr *address, socklen_t length, int backlog) {
    if (bind(fd, address, length) == 0 && listen(fd, backlog) == 0) return fd;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int ei_listen_vsock(unsigned int port, int backlog) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_vm address = vsock_address(VMADDR_CID_ANY, port);
    return listening_or_closed(fd, (struct sockaddr *)&address, sizeof address, backlog);
}

int ei_listen_unix(const char *path, int backlog) {
    struct sockaddr_un address;
    if (unix_address(path, &address) < 0) return -1;
    struct stat info;
    if (lstat(path, &info) == 0 && S_ISSOCK(info.st_mode)) unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    return listening_or_closed(fd, (struct sockaddr *)&address, sizeof address, backlog);
}

int ei_accept(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

int ei_peer_cid(int fd, unsigned int *cid) {
    struct sockaddr_storage peer;
    socklen_t length = sizeof peer;
    memset(&peer, 0, sizeof peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &length) < 0) return -1;
    if (peer.ss_family == AF_VSOCK) {
        *cid = ((struct sockaddr_vm *)&peer)->svm_cid;
        return 0;
    }
    if (peer.ss_family == AF_UNIX) {
        struct sockaddr_un *unix_peer = (struct sockaddr_un *)&peer;
        size_t name_length = length > offsetof(struct sockaddr_un, sun_path) ? length - offsetof(struct sockaddr_un, sun_path) : 0;
        size_t prefix = sizeof SOURCE_PREFIX - 1;
        // Abstract: a NUL first, then the name (not NUL-terminated).
        if (name_length > 1 + prefix && unix_peer->sun_path[0] == 0 && memcmp(unix_peer->sun_path + 1, SOURCE_PREFIX, prefix) == 0) {
            unsigned long value = 0;
            size_t digits = 0;
            for (size_t i = 1 + prefix; i < name_length && unix_peer->sun_path[i] >= '0' && unix_peer->sun_path[i] <= '9'; i++, digits++) {
                value = value * 10 + (unsigned long)(unix_peer->sun_path[i] - '0');
                if (value > 0xFFFFFFFFul) { errno = EINVAL; return -1; }
            }
            if (digits > 0) {
                *cid = (unsigned int)value;
                return 0;
            }
        }
    }
    errno = EINVAL;
    return -1;
}
