// The parent half's DNS: glibc's own stub resolver (res_nsend) asks the servers of
// /etc/resolv.conf with the raw query the enclave sent, over UDP, then over TCP when the
// answer is truncated, with resolv.conf's timeout and attempts. A well-kept library for
// exactly this: nothing here speaks DNS to the network by hand.
#define _GNU_SOURCE
#include "CSupport.h"

#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <string.h>
#include <sys/stat.h>

int ei_resolver_send(const unsigned char *query, int length, unsigned char *answer, int capacity) {
    // One resolver state per thread (the forwarder's pool threads share nothing), read again
    // from /etc/resolv.conf whenever the file changes: parsing it for every query cost more
    // than the query itself against a local server.
    static __thread struct __res_state state;
    static __thread int ready;
    static __thread struct timespec seen;
    struct stat info;
    int changed = stat(_PATH_RESCONF, &info) != 0
        || info.st_mtim.tv_sec != seen.tv_sec || info.st_mtim.tv_nsec != seen.tv_nsec;
    if (!ready || changed) {
        if (ready) res_nclose(&state);
        memset(&state, 0, sizeof state);
        ready = 0;
        if (res_ninit(&state) != 0) return -1;
        ready = 1;
        seen = info.st_mtim;
    }
    return res_nsend(&state, query, length, answer, capacity);
}
