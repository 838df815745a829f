// The Nitro Secure Module's one ioctl, entropy for the kernel's pool, and loading nsm.ko.
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

// The driver's struct nsm_raw and NSM_IOCTL_RAW (drivers/misc/nsm.c, include/uapi/linux/nsm.h).
struct nsm_raw {
    struct iovec request;
    struct iovec response;
};
#define NSM_IOCTL_RAW _IOWR(0x0A, 0, struct nsm_raw)
_Static_assert(NSM_IOCTL_RAW == 0xC0200A00, "NSM_IOCTL_RAW is 0xC0200A00");

int ei_nsm_call(const char *path, const unsigned char *request, size_t request_length,
                unsigned char *response, size_t *response_length) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    struct nsm_raw raw = {
        .request = { .iov_base = (void *)request, .iov_len = request_length },
        .response = { .iov_base = response, .iov_len = *response_length },
    };
    int result = ioctl(fd, NSM_IOCTL_RAW, &raw);
    int saved = errno;
    close(fd);
    if (result < 0) { errno = saved; return -1; }
    *response_length = raw.response.iov_len;
    return 0;
}

int ei_add_entropy(const unsigned char *bytes, size_t length) {
    int fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct rand_pool_info *info = calloc(1, sizeof *info + length);
    if (!info) { close(fd); errno = ENOMEM; return -1; }
    info->entropy_count = (int)(length * 8);
    info->buf_size = (int)length;
    memcpy(info->buf, bytes, length);
    int result = ioctl(fd, RNDADDENTROPY, info);
    int saved = errno;
    memset(info->buf, 0, length);
    free(info);
    close(fd);
    errno = saved;
    return result;
}

int ei_entropy_count(void) {
    int fd = open("/dev/random", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int count = -1;
    int result = ioctl(fd, RNDGETENTCNT, &count);
    close(fd);
    return result < 0 ? -1 : count;
}

int ei_load_module(const char *path, int flags) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int result = (int)syscall(SYS_finit_module, fd, "", flags);
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}
