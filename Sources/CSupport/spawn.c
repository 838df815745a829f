// fork + exec for the app. posix_spawn cannot set groups, gid and uid, so this is the small
// A C helper because after fork() in a threaded process the child may make only
// async-signal-safe calls before execve.
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void report_and_exit(int pipe_fd, int stage) {
    int message[2] = { stage, errno };
    ssize_t ignored = write(pipe_fd, message, sizeof message);
    (void)ignored;
    _exit(127);
}

static void mark_descriptors_close_on_exec(void) {
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    // Kernels before 5.11: walk the descriptor table (bounded by the fd limit).
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1 << 20) max = 1 << 20;
    for (int fd = 3; fd < max; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

// The kernel's struct sigaction: glibc's sigaction() refuses signals 32 and 33 (reserved for
// its threads), so a SIG_IGN inherited on them would otherwise pass on to the app.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long long mask;
};

static void reset_signal_dispositions(void) {
    struct kernel_sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.handler = SIG_DFL;
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        syscall(SYS_rt_sigaction, sig, &default_action, NULL, sizeof default_action.mask);
    }
}

static void child(const ei_spawn_request *request, int pipe_fd) {
    reset_signal_dispositions();
    if (setsid() < 0) report_and_exit(pipe_fd, EI_STAGE_SETSID);
    // dup2 leaves the copies without close-on-exec; the pipe's own descriptors close at exec.
    if (request->stdout_fd >= 0 && dup2(request->stdout_fd, STDOUT_FILENO) < 0) report_and_exit(pipe_fd, EI_STAGE_STDIO);
    if (request->stderr_fd >= 0 && dup2(request->stderr_fd, STDERR_FILENO) < 0) report_and_exit(pipe_fd, EI_STAGE_STDIO);
    if (request->workdir && chdir(request->workdir) < 0) report_and_exit(pipe_fd, EI_STAGE_CHDIR);
    if (request->set_ids) {
        if (setgroups(request->group_count, request->groups) < 0) report_and_exit(pipe_fd, EI_STAGE_SETGROUPS);
        if (setgid(request->gid) < 0) report_and_exit(pipe_fd, EI_STAGE_SETGID);
        if (setuid(request->uid) < 0) report_and_exit(pipe_fd, EI_STAGE_SETUID);
    }
    // After the user switch (which needs no filter's leave) and before exec, which keeps it.
    if (request->deny_vsock && ei_install_vsock_filter() < 0) report_and_exit(pipe_fd, EI_STAGE_SECCOMP);
    mark_descriptors_close_on_exec();
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    execve(request->path, request->argv, request->envp);
    report_and_exit(pipe_fd, EI_STAGE_EXEC);
}

pid_t ei_spawn(const ei_spawn_request *request, int *stage, int *error_number) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        *stage = EI_STAGE_PIPE;
        *error_number = errno;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *stage = EI_STAGE_FORK;
        *error_number = errno;
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child(request, fds[1]);
    }
    close(fds[1]);
    int message[2];
    ssize_t got;
    do { got = read(fds[0], message, sizeof message); } while (got < 0 && errno == EINTR);
    close(fds[0]);
    if (got == (ssize_t)sizeof message) { // the child failed before or at execve
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *stage = message[0];
        *error_number = message[1];
        return -1;
    }
    *stage = EI_STAGE_NONE;
    *error_number = 0;
    return pid;
}
