// The TUN device that egress.udp reads the app's UDP datagrams from. Only the two ioctls that
// have no netlink or library equivalent are here (TUNSETIFF creates the device and binds it to
// this descriptor; Swift cannot call the variadic ioctl); its address, MTU, state and the
// default route through it are set over rtnetlink with libnl (LinuxNet).
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/if.h>
#include <linux/if_tun.h>

// Opens /dev/net/tun, making the node first when /dev has none (an image's /dev may be a bare
// devtmpfs without it, or a directory without devtmpfs at all): misc device 10, minor 200.
static int open_clone_device(void) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0 || errno != ENOENT) return fd;
    if (mkdir("/dev/net", 0755) < 0 && errno != EEXIST) return -1;
    if (mknod("/dev/net/tun", S_IFCHR | 0600, makedev(10, 200)) < 0 && errno != EEXIST) return -1;
    return open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
}

int ei_tun_create(const char *name, int *fd_out) {
    int fd = open_clone_device();
    if (fd < 0) return -1;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    // IFF_NO_PI: each read is one bare IP packet, each write takes one.
    request.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *fd_out = fd;
    return 0;
}
