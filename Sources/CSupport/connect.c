// Blocking stream connections with a bounded connect, for the callers outside an event loop:
// the one-byte heartbeat exchange (before any event loop exists), `parent stop`, the clock.
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
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

int ei_connect_vsock(unsigned int cid, unsigned int port, int timeout_ms) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_vm address;
    memset(&address, 0, sizeof address);
    address.svm_family = AF_VSOCK;
    address.svm_cid = cid;
    address.svm_port = port;
    return connected_or_closed(fd, (struct sockaddr *)&address, sizeof address, timeout_ms);
}

int ei_connect_unix(const char *path, int timeout_ms) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    return connected_or_closed(fd, (struct sockaddr *)&address, sizeof address, timeout_ms);
}
