// Test-only, built static by scripts/e2e-qemu for the guest: listens on vsock PORT (any CID)
// and echoes every connection's bytes back until EOF. Plays the parent's heartbeat listener
// (one byte 0xB7 out, the same byte back) and prints one line per connection on stderr.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: vsock_echo PORT\n"); return 2; }
    int server = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = (unsigned)atoi(argv[1]) };
    if (server < 0 || bind(server, (struct sockaddr *)&address, sizeof address) != 0 || listen(server, 16) != 0) {
        perror("vsock_echo: listen");
        return 1;
    }
    for (;;) {
        int connection = accept(server, NULL, NULL);
        if (connection < 0) continue;
        unsigned char buffer[4096];
        ssize_t count, total = 0;
        int first = -1;
        while ((count = read(connection, buffer, sizeof buffer)) > 0) {
            if (first < 0) first = buffer[0];
            total += count;
            if (write(connection, buffer, (size_t)count) != count) break;
        }
        fprintf(stderr, "vsock_echo %s: echoed %zd bytes, first 0x%02X\n", argv[1], total, first < 0 ? 0 : first);
        close(connection);
    }
}
