// statfs(2)'s f_type, for the secrets step's "only on a tmpfs" check.
#include "CSupport.h"

#include <sys/vfs.h>

long ei_filesystem_type(const char *path) {
    struct statfs info;
    if (statfs(path, &info) != 0) return -1;
    return (long)info.f_type;
}
