// Runs before the Swift runtime starts (docs/design.md, 2. The boot sequence: step 1, early).
//
// 1. As PID 1 of a bare kernel (custom EIF, or an empty chroot) /proc is not mounted yet, and
//    the static Swift runtime aborts when it cannot read /proc/self/exe. So mount it first.
// 2. Block every signal that init handles, so that none that arrives during start-up is lost:
//    the supervisor later waits for them explicitly. Synchronous fault signals stay unblocked
//    (a crash must still crash), as do SIGKILL and SIGSTOP (they cannot be blocked anyway).
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static ei_early_state early_state;

static bool proc_is_mounted(void) {
    // /proc/self exists only when procfs is mounted at /proc.
    return access("/proc/self/exe", F_OK) == 0 || access("/proc/self/stat", F_OK) == 0;
}

static bool is_synchronous_fault(int sig) {
    switch (sig) {
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP: case SIGSYS: case SIGABRT:
        return true;
    default:
        return false;
    }
}

__attribute__((constructor(101)))
static void ei_early_init(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    early_state.started_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;

    sigemptyset(&early_state.handled);
    for (int sig = 1; sig < 32; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || is_synchronous_fault(sig)) continue;
        sigaddset(&early_state.handled, sig);
    }
    sigprocmask(SIG_BLOCK, &early_state.handled, &early_state.original_mask);

    early_state.was_pid1 = (getpid() == 1);
    if (early_state.was_pid1 && !proc_is_mounted()) {
        mkdir("/proc", 0555); // may exist already; mount reports any real problem
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
            early_state.mounted_proc = true;
        } else {
            early_state.proc_mount_errno = errno;
        }
    }
}

const ei_early_state *ei_early(void) { return &early_state; }

void ei_restore_signal_mask(void) {
    sigprocmask(SIG_SETMASK, &early_state.original_mask, NULL);
}
