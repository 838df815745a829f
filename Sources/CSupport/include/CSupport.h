// C shims for what Swift cannot do (or cannot do early enough).
#pragma once
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/// What the early constructor did before the Swift runtime started (see early_init.c).
typedef struct {
    bool was_pid1;          // getpid() == 1 when the process started
    bool mounted_proc;      // the constructor mounted /proc itself
    int proc_mount_errno;   // non-zero: mounting /proc failed with this errno
    sigset_t original_mask; // the signal mask the process was started with
    sigset_t handled;       // the signals the constructor blocked for the supervisor
    long long started_ns;   // CLOCK_MONOTONIC when the process started: log timestamps count from here
} ei_early_state;

/// The state recorded by the constructor; valid for the whole life of the process.
const ei_early_state *ei_early(void);

/// Restores the signal mask the process started with (for commands that supervise nothing).
void ei_restore_signal_mask(void);

/// The wait(2) status macros, which Swift cannot import.
int ei_wifexited(int status);
int ei_wexitstatus(int status);
int ei_wifsignaled(int status);
int ei_wtermsig(int status);

/// sync(2), then reboot(RB_POWER_OFF). Returns only on failure (errno set). In a PID
/// namespace the kernel turns this into the exit of the namespace's init.
int ei_power_off(void);
