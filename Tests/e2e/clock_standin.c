// Test-only, built static by scripts/e2e-qemu for the clock scenario. The guest has one clock
// for both halves, so the parent's clock cannot be played by `enclave-init parent` once the
// harness has set the guest's clock wrong: this stand-in plays it instead.
//
//   clock_standin serve PORT   records the true time (the guest's clock at boot, which qemu took
//                              from the host's) against CLOCK_BOOTTIME, writes both to
//                              /e2e/run/clock-truth, and answers enclave-init's clock requests
//                              on vsock PORT with that true time (its wire format: 8-byte
//                              sequence in, sequence + seconds + nanoseconds out, big-endian)
//   clock_standin check LABEL  prints how far CLOCK_REALTIME is from the true time, in ms
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static const char *truth_file = "/e2e/run/clock-truth";

static int64_t now_ns(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static int read_truth(int64_t *real, int64_t *boot) {
    FILE *file = fopen(truth_file, "r");
    if (!file) return -1;
    int got = fscanf(file, "%lld %lld", (long long *)real, (long long *)boot);
    fclose(file);
    return got == 2 ? 0 : -1;
}

static int64_t true_now(int64_t real, int64_t boot) { return real + (now_ns(CLOCK_BOOTTIME) - boot); }

static void put_be(unsigned char *out, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; i++) out[i] = (unsigned char)(value >> (8 * (bytes - 1 - i)));
}

static int serve(unsigned port) {
    int64_t real = now_ns(CLOCK_REALTIME), boot = now_ns(CLOCK_BOOTTIME);
    int server = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
    if (server < 0 || bind(server, (struct sockaddr *)&address, sizeof address) != 0 || listen(server, 16) != 0) {
        perror("clock-standin: listen");
        return 1;
    }
    FILE *file = fopen(truth_file, "w");
    if (!file) { perror("clock-standin: truth file"); return 1; }
    fprintf(file, "%lld %lld\n", (long long)real, (long long)boot);
    fclose(file);
    fprintf(stderr, "clock-standin: serving the true time on vsock port %u (true time at start: %lld s)\n", port, (long long)(real / 1000000000));
    for (;;) {
        int connection = accept(server, NULL, NULL);
        if (connection < 0) continue;
        unsigned char request[8], answer[20];
        int answered = 0;
        for (;;) {
            size_t have = 0;
            while (have < sizeof request) {
                ssize_t got = read(connection, request + have, sizeof request - have);
                if (got <= 0) break;
                have += (size_t)got;
            }
            if (have < sizeof request) break;
            int64_t now = true_now(real, boot);
            memcpy(answer, request, 8);
            put_be(answer + 8, (uint64_t)(now / 1000000000), 8);
            put_be(answer + 16, (uint64_t)(now % 1000000000), 4);
            if (write(connection, answer, sizeof answer) != (ssize_t)sizeof answer) break;
            answered++;
        }
        fprintf(stderr, "clock-standin: answered %d requests on one connection\n", answered);
        close(connection);
    }
}

static int check(const char *label) {
    int64_t real, boot;
    if (read_truth(&real, &boot) != 0) { fprintf(stderr, "clock-standin: no %s\n", truth_file); return 1; }
    long long off = (long long)((now_ns(CLOCK_REALTIME) - true_now(real, boot)) / 1000000);
    printf("app: %s: the clock is %lld ms off the true time\n", label, off);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve((unsigned)atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "check") == 0) return check(argv[2]);
    fprintf(stderr, "usage: clock_standin serve PORT | check LABEL\n");
    return 2;
}
