// The kernel calls behind the relay's splice engine (Relay/Splice): splice(2), pipes sized with
// F_SETPIPE_SZ and epoll, which Swift cannot import cleanly (GNU extensions, and struct
// epoll_event is packed on x86_64).
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

ssize_t ei_splice(int from, int to, size_t length) {
    ssize_t moved;
    do { moved = splice(from, NULL, to, NULL, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK); } while (moved < 0 && errno == EINTR);
    return moved;
}

int ei_pipe(int fds[2], int capacity) {
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
    // Best effort: past /proc/sys/fs/pipe-max-size, or the user's pipe page budget, the
    // kernel keeps the default size, which still works, with more wake-ups.
    if (fcntl(fds[1], F_SETPIPE_SZ, capacity) < 0) { /* keep the default */ }
    int size = fcntl(fds[1], F_GETPIPE_SZ);
    return size > 0 ? size : 65536;
}

int ei_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int ei_epoll_watch(int epoll, int fd, uint64_t token) {
    struct epoll_event event = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = token };
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int ei_epoll_watch_readable(int epoll, int fd, uint64_t token) {
    struct epoll_event event = { .events = EPOLLIN, .data.u64 = token };
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int ei_epoll_forget(int epoll, int fd) { return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL); }

int ei_epoll_wait(int epoll, uint64_t *tokens, uint32_t *flags, int capacity, int timeout_ms) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count;
    do { count = epoll_wait(epoll, events, capacity, timeout_ms); } while (count < 0 && errno == EINTR);
    for (int i = 0; i < count; i++) {
        tokens[i] = events[i].data.u64;
        flags[i] = (events[i].events & (EPOLLERR | EPOLLHUP)) ? 1 : 0;
    }
    return count;
}

int ei_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void ei_eventfd_signal(int fd) { uint64_t one = 1; (void)!write(fd, &one, sizeof one); }

void ei_eventfd_drain(int fd) { uint64_t count; (void)!read(fd, &count, sizeof count); }
