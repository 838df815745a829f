// The seccomp filter that keeps the app off AF_VSOCK (README, "Transparent networking": app.allow_vsock).
// Written by hand because it is a dozen BPF instructions: libseccomp would add a library to
// the static binary for a program this size. Installed in the spawn child after the user
// switch and before execve, with no_new_privs (required for an unprivileged filter, and it
// keeps a setuid binary from shedding it); the filter is inherited by every descendant and
// survives exec, so nothing the app starts can open a vsock socket either. enclave-init
// itself is not filtered: only the child installs it.
#include "CSupport.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

// Syscall numbers by ABI (x86_64 kernels also run i386 and x32 code).
#define X86_64_SOCKET 41
#define X32_SYSCALL_BIT 0x40000000
#define I386_SOCKET 359
#define I386_SOCKETCALL 102
#define SOCKETCALL_SOCKET 1 // socketcall's SYS_SOCKET

#define REFUSE (SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA))

static struct sock_filter vsock_filter[] = {
    // [0] Which ABI made the call.
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 6),        // -> [8] i386
    // [2] x86_64 and x32: socket(family, ...) with family AF_VSOCK is refused.
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, X86_64_SOCKET, 1, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, X86_64_SOCKET | X32_SYSCALL_BIT, 0, 12), // -> allow
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),  // low half of the family
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_VSOCK, 9, 10),                 // -> refuse / allow
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),                          // [7] (unreached)
    // [8] i386: socket() is checked like x86_64; socketcall(SYS_SOCKET, args) hides the family
    // in user memory a filter cannot read, so socketcall's socket creation is refused outright
    // (32-bit code must use the socket syscall, Linux 4.3 and later, as musl does).
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 8),           // -> allow (no other ABI)
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_SOCKET, 3, 0),                // -> [14]
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, I386_SOCKETCALL, 0, 5),            // -> allow
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),  // [12] the call number
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCKETCALL_SOCKET, 2, 3),          // -> refuse / allow
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),  // [14] the family
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_VSOCK, 0, 1),                   // -> refuse / allow
    BPF_STMT(BPF_RET | BPF_K, REFUSE),                                     // [16]
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),                          // [17]
};

_Static_assert(sizeof(ei_bpf_instruction) == sizeof(struct sock_filter), "ei_bpf_instruction mirrors struct sock_filter");

const ei_bpf_instruction *ei_vsock_filter(size_t *count) {
    *count = sizeof vsock_filter / sizeof vsock_filter[0];
    return (const ei_bpf_instruction *)vsock_filter;
}

int ei_install_vsock_filter(void) {
    struct sock_fprog program = {
        .len = (unsigned short)(sizeof vsock_filter / sizeof vsock_filter[0]),
        .filter = vsock_filter,
    };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
}
