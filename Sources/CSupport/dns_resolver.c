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

int ei_resolver_send(const unsigned char *query, int length, unsigned char *answer, int capacity) {
    // A state per call: resolv.conf is read again each time (it may change while the parent
    // half runs), and calls on several threads share nothing.
    struct __res_state state;
    memset(&state, 0, sizeof state);
    if (res_ninit(&state) != 0) return -1;
    int got = res_nsend(&state, query, length, answer, capacity);
    res_nclose(&state);
    return got;
}
