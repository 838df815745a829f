// The transparent-egress capture rule, `-t nat -A OUTPUT -p tcp ! -d 127.0.0.0/8 -j REDIRECT
// --to-ports PORT`, installed with the kernel's legacy xtables interface (getsockopt
// IPT_SO_GET_INFO/GET_ENTRIES, setsockopt IPT_SO_SET_REPLACE) — what the Nitro kernel has
// (legacy iptables NAT built in, no nf_tables). Written by hand: libiptc, the library behind
// iptables, is shipped only as a shared library and this binary is static, and the enclave
// image has no iptables binary. The table is read, our entry is put first in OUTPUT, every
// offset after it moves by the entry's size, and the table is replaced as a whole, as
// iptables itself does. A rule that is already there is left alone (a second boot adds
// nothing twice).
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <netinet/in.h> // before the kernel's headers, which would define struct in_addr again
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv4/ip_tables.h>

struct redirect_target {
    struct xt_entry_target target;
    struct nf_nat_ipv4_multi_range_compat range;
};

struct capture_entry {
    struct ipt_entry entry;
    unsigned char target[XT_ALIGN(sizeof(struct redirect_target))];
};

static void fill_capture_entry(struct capture_entry *rule, unsigned short port) {
    memset(rule, 0, sizeof *rule);
    rule->entry.ip.dst.s_addr = htonl(0x7F000000);
    rule->entry.ip.dmsk.s_addr = htonl(0xFF000000);
    rule->entry.ip.invflags = IPT_INV_DSTIP;
    rule->entry.ip.proto = IPPROTO_TCP;
    rule->entry.target_offset = sizeof(struct ipt_entry);
    rule->entry.next_offset = sizeof *rule;
    struct redirect_target *redirect = (struct redirect_target *)rule->target;
    redirect->target.u.user.target_size = XT_ALIGN(sizeof(struct redirect_target));
    strcpy(redirect->target.u.user.name, "REDIRECT");
    redirect->range.rangesize = 1;
    redirect->range.range[0].flags = NF_NAT_RANGE_PROTO_SPECIFIED;
    redirect->range.range[0].min.tcp.port = htons(port);
    redirect->range.range[0].max.tcp.port = htons(port);
}

// Is `entry` our rule (same match, target and port)? Counters and the kernel's own fields
// (comefrom, the target's kernel pointer) are not compared.
static int is_capture_entry(const struct ipt_entry *entry, const struct capture_entry *rule) {
    if (entry->next_offset != rule->entry.next_offset || entry->target_offset != rule->entry.target_offset) return 0;
    if (memcmp(&entry->ip, &rule->entry.ip, sizeof entry->ip) != 0) return 0;
    const struct redirect_target *ours = (const struct redirect_target *)rule->target;
    const struct redirect_target *theirs = (const struct redirect_target *)((const char *)entry + entry->target_offset);
    return strcmp(theirs->target.u.user.name, "REDIRECT") == 0
        && memcmp(&theirs->range, &ours->range, sizeof ours->range) == 0;
}

int ei_install_capture_rule(unsigned short port, int *already_present) {
    *already_present = 0;
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) return -1;
    int result = -1, saved = 0;
    struct ipt_get_entries *current = NULL;
    struct ipt_replace *replace = NULL;
    struct xt_counters *counters = NULL;

    struct ipt_getinfo info;
    memset(&info, 0, sizeof info);
    strcpy(info.name, "nat");
    socklen_t length = sizeof info;
    if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, &info, &length) < 0) goto done;

    length = sizeof *current + info.size;
    current = calloc(1, length);
    if (!current) { errno = ENOMEM; goto done; }
    strcpy(current->name, "nat");
    current->size = info.size;
    if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_ENTRIES, current, &length) < 0) goto done;

    struct capture_entry rule;
    fill_capture_entry(&rule, port);
    for (unsigned int offset = 0; offset < current->size;) {
        const struct ipt_entry *entry = (const struct ipt_entry *)((const char *)current->entrytable + offset);
        if (entry->next_offset < sizeof *entry) { errno = EPROTO; goto done; }
        if (is_capture_entry(entry, &rule)) { *already_present = 1; result = 0; goto done; }
        offset += entry->next_offset;
    }

    const unsigned int insert_at = info.hook_entry[NF_INET_LOCAL_OUT];
    const unsigned int grow = sizeof rule;
    replace = calloc(1, sizeof *replace + info.size + grow);
    counters = calloc(info.num_entries ? info.num_entries : 1, sizeof *counters);
    if (!replace || !counters) { errno = ENOMEM; goto done; }
    strcpy(replace->name, "nat");
    replace->valid_hooks = info.valid_hooks;
    replace->num_entries = info.num_entries + 1;
    replace->size = info.size + grow;
    replace->num_counters = info.num_entries;
    replace->counters = counters;
    for (int hook = 0; hook < NF_INET_NUMHOOKS; hook++) {
        // Our entry becomes the first of OUTPUT: OUTPUT's start stays, everything after moves.
        replace->hook_entry[hook] = info.hook_entry[hook] + (info.hook_entry[hook] > insert_at ? grow : 0);
        replace->underflow[hook] = info.underflow[hook] + (info.underflow[hook] >= insert_at ? grow : 0);
    }
    char *out = (char *)replace->entries;
    memcpy(out, current->entrytable, insert_at);
    memcpy(out + insert_at, &rule, grow);
    memcpy(out + insert_at + grow, (const char *)current->entrytable + insert_at, info.size - insert_at);
    // Jumps to user chains are absolute offsets: those past the insertion point move too.
    for (unsigned int offset = 0; offset < replace->size;) {
        struct ipt_entry *entry = (struct ipt_entry *)(out + offset);
        struct xt_standard_target *target = (struct xt_standard_target *)((char *)entry + entry->target_offset);
        if (strcmp(target->target.u.user.name, XT_STANDARD_TARGET) == 0 && target->verdict >= 0
            && (unsigned int)target->verdict >= insert_at && offset != insert_at) {
            target->verdict += (int)grow;
        }
        offset += entry->next_offset;
    }
    if (setsockopt(fd, IPPROTO_IP, IPT_SO_SET_REPLACE, replace, sizeof *replace + replace->size) < 0) goto done;
    result = 0;

done:
    saved = errno;
    free(current);
    free(replace);
    free(counters);
    close(fd);
    errno = saved;
    return result;
}

int ei_original_destination(int fd, unsigned int *address, unsigned short *port) {
    struct sockaddr_in original;
    socklen_t length = sizeof original;
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &original, &length) < 0) return -1;
    *address = ntohl(original.sin_addr.s_addr);
    *port = ntohs(original.sin_port);
    return 0;
}
