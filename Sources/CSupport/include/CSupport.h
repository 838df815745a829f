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

/// The build stamp ("VERSION COMMIT", or the unstamped marker), NUL-terminated, into `out`.
void ei_copy_build_stamp(char *out, unsigned long capacity);

/// Restores the signal mask the process started with (for commands that supervise nothing).
void ei_restore_signal_mask(void);
/// A non-blocking, close-on-exec signalfd for `set` (the signals stay blocked): readable while one is pending.
int ei_signalfd(const sigset_t *set);

/// The wait(2) status macros, which Swift cannot import.
int ei_wifexited(int status);
int ei_wexitstatus(int status);
int ei_wifsignaled(int status);
int ei_wtermsig(int status);

/// sync(2), then reboot(RB_POWER_OFF). Returns only on failure (errno set). In a PID
/// namespace the kernel turns this into the exit of the namespace's init.
int ei_power_off(void);

#include <sys/types.h>
#include <stddef.h>

/// Everything the child needs between fork and exec, prepared by the parent so that the child
/// only makes async-signal-safe calls (other threads may hold locks at fork time).
typedef struct {
    const char *path;            // the executable, already resolved against PATH
    char *const *argv;
    char *const *envp;
    const char *workdir;         // NULL: stay where enclave-init is
    int set_ids;                 // non-zero: apply groups, gid, uid (in that order)
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t group_count;
    int stdout_fd;               // >= 0: becomes the app's stdout (the log stream's capture pipe)
    int stderr_fd;               // >= 0: becomes the app's stderr
    int deny_vsock;              // non-zero: no_new_privs and the AF_VSOCK seccomp filter
} ei_spawn_request;

/// Where the child failed, reported with its errno through a close-on-exec pipe.
enum ei_spawn_stage {
    EI_STAGE_NONE = 0, EI_STAGE_SETSID, EI_STAGE_CHDIR, EI_STAGE_SETGROUPS, EI_STAGE_SETGID,
    EI_STAGE_SETUID, EI_STAGE_EXEC, EI_STAGE_FORK, EI_STAGE_PIPE, EI_STAGE_STDIO, EI_STAGE_SECCOMP
};

/// One classic BPF instruction, laid out as the kernel's struct sock_filter.
typedef struct {
    unsigned short code;
    unsigned char jt;
    unsigned char jf;
    unsigned int k;
} ei_bpf_instruction;

/// The seccomp program that refuses socket(AF_VSOCK, ...) with EACCES (x86_64, x32, i386),
/// for tests that run it against sample calls.
const ei_bpf_instruction *ei_vsock_filter(size_t *count);

/// In the calling thread: PR_SET_NO_NEW_PRIVS, then the filter. 0, or -1 with errno.
int ei_install_vsock_filter(void);

/// Puts `-t nat -A OUTPUT -p tcp ! -d 127.0.0.0/8 -j REDIRECT --to-ports port` first in the
/// legacy xtables nat table (IPT_SO_SET_REPLACE). 0 (with *already_present set when the rule
/// was there), or -1 with errno (ENOENT: no nat table in this kernel; EPERM: no CAP_NET_ADMIN).
int ei_install_capture_rule(unsigned short port, int *already_present);

/// SO_ORIGINAL_DST of an accepted IPv4 TCP socket (host byte order). 0, or -1 with errno
/// (ENOENT: the connection was not redirected by NAT).
int ei_original_destination(int fd, unsigned int *address, unsigned short *port);

/// Creates the TUN device `name` (IFF_TUN | IFF_NO_PI) and stores its descriptor (non-blocking,
/// close-on-exec) in *fd_out; the device lives as long as the descriptor. -1 and errno on
/// failure (ENOENT/ENODEV: the kernel has no TUN; EPERM: no CAP_NET_ADMIN).
int ei_tun_create(const char *name, int *fd_out);

/// One NSM_IOCTL_RAW on the device at `path` (opened and closed around the call): the CBOR
/// request in, the CBOR response out; *response_length is the buffer's size on entry and the
/// answer's on return. 0, or -1 with errno (ENOTTY: not an NSM device).
int ei_nsm_call(const char *path, const unsigned char *request, size_t request_length,
                unsigned char *response, size_t *response_length);

/// Credits `length` bytes to the kernel's entropy pool (RNDADDENTROPY, 8 bits a byte). 0 or -1.
int ei_add_entropy(const unsigned char *bytes, size_t length);

/// The kernel's entropy estimate in bits (RNDGETENTCNT), or -1.
int ei_entropy_count(void);

/// finit_module(2) of the file at `path`, with no parameters; `flags` 4 (MODULE_INIT_COMPRESSED_FILE)
/// has the kernel decompress it. 0, or -1 with errno.
int ei_load_module(const char *path, int flags);

/// Sends a raw DNS query to the servers of /etc/resolv.conf with glibc's resolver (UDP, TCP on
/// truncation) and copies the answer into `answer`. Returns its length, or -1 when no server
/// answered. Blocking: call it off the event loops.
int ei_resolver_send(const unsigned char *query, int length, unsigned char *answer, int capacity);

/// Forks and execs the request in a new session (so its own process group), with default
/// signal dispositions, an empty signal mask and every descriptor above 2 closed on exec.
/// Returns the pid, or -1 with *stage and *error_number saying what failed (the failed child
/// has already been reaped).
pid_t ei_spawn(const ei_spawn_request *request, int *stage, int *error_number);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of our descendants become our children.
int ei_set_child_subreaper(void);

/// A connected, blocking stream socket to an AF_VSOCK (cid, port) or a Unix socket path, or -1
/// with errno set. `timeout_ms` bounds the connect.
int ei_connect_vsock(unsigned int cid, unsigned int port, int timeout_ms);
int ei_connect_unix(const char *path, int timeout_ms);
/// The same to a Unix socket standing in for vsock, from an abstract address that names
/// `source_cid` as vsock's own source address would (see ei_peer_cid).
int ei_connect_unix_as_cid(const char *path, unsigned int source_cid, int timeout_ms);

/// A listening, blocking stream socket on vsock (any CID) `port`, or on a Unix socket path (a
/// stale socket file there is replaced), or -1 with errno set.
int ei_listen_vsock(unsigned int port, int backlog);
int ei_listen_unix(const char *path, int backlog);
/// accept4 with SOCK_CLOEXEC (Swift's Glibc does not import accept4).
int ei_accept(int fd);

/// The vsock CID of a connected socket's peer: its svm_cid, or under the Unix-socket emulation
/// the CID its abstract source address names. 0 with *cid set, or -1 when the peer has none.
int ei_peer_cid(int fd, unsigned int *cid);

/// Console output nobody waits for (console_queue.c): a line for stdout or stderr is queued
/// (1 MiB each) and written by a thread of its own; 1 when it was dropped because the queue
/// was full (counted, and said in a notice once the output moves). Other descriptors are
/// written at once.
int ei_console_write(int fd, const char *bytes, size_t length);
/// Waits until both queues are written out, at most `timeout_ms`: 1 caught up, 0 timed out.
int ei_console_flush(int timeout_ms);
/// The lines dropped on stdout or stderr since the start.
unsigned long ei_console_dropped(int fd);

/// Host lookups (getaddrinfo) use only glibc's built-in "files dns" services from now on,
/// whatever /etc/nsswitch.conf says: a static binary cannot load other NSS modules safely.
void ei_use_builtin_host_lookup(void);

/// mount(2) / umount2(2) on a helper thread, waiting at most `timeout_ms`. Returns 0, the
/// call's errno, or ETIMEDOUT when the deadline passed first (the call may still complete).
int ei_mount_with_timeout(const char *source, const char *target, const char *type, unsigned long flags,
                          const char *data, int timeout_ms);
int ei_umount_with_timeout(const char *target, int flags, int timeout_ms);

/// A close-on-exec pipe whose capacity is raised to `capacity` bytes where the kernel allows.
int ei_output_pipe(int fds[2], int capacity);

/// Fills `buffer` from getrandom(2) without waiting for the entropy pool; -1 when it is not ready.
int ei_random_bytes(void *buffer, size_t length);

/// splice(2) from `from` to `to` (one of them a pipe), non-blocking, moving pages where the
/// kernel can. Returns the bytes moved, 0 at EOF of a socket, or -1 with errno (EAGAIN: not now).
ssize_t ei_splice(int from, int to, size_t length);
/// A non-blocking, close-on-exec pipe, asked to hold `capacity` bytes; returns the capacity it
/// got (the kernel may refuse a size and keep its default), or -1 with errno.
int ei_pipe(int fds[2], int capacity);
/// epoll for the splice engine: watch a socket edge-triggered for input, output, peer
/// shutdown; or a wake-up eventfd level-triggered for input. `flags[i]` is 1 on error/hang-up.
int ei_epoll_create(void);
int ei_epoll_watch(int epoll, int fd, uint64_t token);
int ei_epoll_watch_readable(int epoll, int fd, uint64_t token);
int ei_epoll_forget(int epoll, int fd);
int ei_epoll_wait(int epoll, uint64_t *tokens, uint32_t *flags, int capacity, int timeout_ms);
int ei_eventfd(void);
void ei_eventfd_signal(int fd);
void ei_eventfd_drain(int fd);

// The filesystem type (statfs f_type) under `path`, or -1 with errno set: secret files go only
// on a tmpfs (Swift's Glibc module does not carry sys/statfs.h).
long ei_filesystem_type(const char *path);
