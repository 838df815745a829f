// pipe2 and F_SETPIPE_SZ, getrandom: GNU extensions that Swift's Glibc module does not export.
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

int ei_output_pipe(int fds[2], int capacity) {
    if (pipe2(fds, O_CLOEXEC) < 0) return -1;
    (void)fcntl(fds[1], F_SETPIPE_SZ, capacity); // best effort: pipe-max-size may be lower
    return 0;
}

int ei_random_bytes(void *buffer, size_t length) {
    ssize_t got = getrandom(buffer, length, GRND_NONBLOCK);
    return got == (ssize_t)length ? 0 : -1;
}
