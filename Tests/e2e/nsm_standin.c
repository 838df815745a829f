// TEST-ONLY stand-in for the Nitro Secure Module, for the qemu suite: it registers a CUSE
// character device named "nsm" (/dev/nsm) and answers the real NSM_IOCTL_RAW (0xC0200A00)
// with CBOR, so that enclave-init's real device path (open, ioctl, CBOR) is exercised in the
// guest. Its answers are a stand-in's, NOT a real NSM's: GetRandom gives getrandom(2) bytes,
// and Attestation gives an UNSIGNED COSE_Sign1 (empty signature) whose payload echoes the
// request's nonce, user_data and public_key; DescribePCR, ExtendPCR (SHA384(old || data), by
// OpenSSL's libcrypto) and LockPCR keep PCRs 16-31 as the NSM does (0-15 read as zero and are
// read-only). Never in an image.
//
//   nsm_standin /path/to/cuse      (the harness has devtmpfs at /e2e/dev)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>
#include <openssl/sha.h>

#define NSM_IOCTL_RAW 0xC0200A00u
struct nsm_raw { struct iovec request; struct iovec response; };

static int cuse;

static void reply(uint64_t unique, int error, const void *a, size_t alen, const void *b, size_t blen) {
    struct fuse_out_header out = { .len = (uint32_t)(sizeof out + alen + blen), .error = error, .unique = unique };
    struct iovec parts[3] = { { &out, sizeof out }, { (void *)a, alen }, { (void *)b, blen } };
    if (writev(cuse, parts, 3) < 0) fprintf(stderr, "nsm-standin: reply: %s\n", strerror(errno));
}

// --- A little CBOR: enough to read the NSM's requests and write its answers. ---------------
struct buf { uint8_t data[0x3000]; size_t len; };
static void put_head(struct buf *b, int major, uint64_t value) {
    uint8_t type = (uint8_t)(major << 5);
    if (value < 24) { b->data[b->len++] = type | (uint8_t)value; return; }
    int width = value <= 0xFF ? 1 : value <= 0xFFFF ? 2 : value <= 0xFFFFFFFF ? 4 : 8;
    b->data[b->len++] = type | (uint8_t)(width == 1 ? 24 : width == 2 ? 25 : width == 4 ? 26 : 27);
    for (int i = width - 1; i >= 0; i--) b->data[b->len++] = (uint8_t)(value >> (8 * i));
}
static void put_text(struct buf *b, const char *text) { put_head(b, 3, strlen(text)); memcpy(b->data + b->len, text, strlen(text)); b->len += strlen(text); }
static void put_bytes(struct buf *b, const uint8_t *bytes, size_t n) { put_head(b, 2, n); memcpy(b->data + b->len, bytes, n); b->len += n; }

struct reader { const uint8_t *p; size_t len, at; };
// Reads a head; returns major type or -1, value in *value.
static int get_head(struct reader *r, uint64_t *value) {
    if (r->at >= r->len) return -1;
    uint8_t initial = r->p[r->at++];
    int major = initial >> 5, info = initial & 31;
    if (major == 7) { *value = (uint64_t)info; return 7; }
    if (info < 24) { *value = (uint64_t)info; return major; }
    if (info > 27) return -1;
    int width = 1 << (info - 24);
    if (r->at + (size_t)width > r->len) return -1;
    uint64_t v = 0;
    for (int i = 0; i < width; i++) v = v << 8 | r->p[r->at++];
    *value = v;
    return major;
}

// The Attestation request's three fields (NULL when null or absent).
struct field { const uint8_t *bytes; size_t len; };
static int read_attestation(struct reader *r, struct field *user_data, struct field *nonce, struct field *public_key) {
    uint64_t count;
    if (get_head(r, &count) != 5) return -1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t keylen, vlen;
        if (get_head(r, &keylen) != 3 || r->at + keylen > r->len) return -1;
        const char *key = (const char *)r->p + r->at;
        r->at += keylen;
        struct field *target = NULL;
        if (keylen == 9 && !memcmp(key, "user_data", 9)) target = user_data;
        else if (keylen == 5 && !memcmp(key, "nonce", 5)) target = nonce;
        else if (keylen == 10 && !memcmp(key, "public_key", 10)) target = public_key;
        int major = get_head(r, &vlen);
        if (major == 7 && vlen == 22) continue; // null
        if (major != 2 || r->at + vlen > r->len) return -1;
        if (target) { target->bytes = r->p + r->at; target->len = vlen; }
        r->at += vlen;
    }
    return 0;
}

// PCRs 16-31 as the NSM keeps them; 0-15 are the platform's and stay zero here.
static uint8_t pcrs[32][48];
static int locked[32];

// {"index": n[, "data": bytes]}: the PCR requests' fields.
static int read_pcr_fields(struct reader *r, uint64_t *index, struct field *data) {
    uint64_t count;
    *index = 64;
    if (get_head(r, &count) != 5) return -1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t keylen, value;
        if (get_head(r, &keylen) != 3 || r->at + keylen > r->len) return -1;
        const char *key = (const char *)r->p + r->at;
        r->at += keylen;
        int major = get_head(r, &value);
        if (keylen == 5 && !memcmp(key, "index", 5) && major == 0) { *index = value; continue; }
        if (keylen == 4 && !memcmp(key, "data", 4) && major == 2 && r->at + value <= r->len) {
            data->bytes = r->p + r->at; data->len = value; r->at += value; continue;
        }
        return -1;
    }
    return *index < 32 ? 0 : -1;
}

static void error_answer(struct buf *out, const char *code) {
    put_head(out, 5, 1); put_text(out, "Error"); put_text(out, code);
}

static void answer(const uint8_t *request, size_t length, struct buf *out) {
    struct reader r = { request, length, 0 };
    uint64_t value;
    int major = get_head(&r, &value);
    out->len = 0;
    if (major == 3 && value == 9 && r.at + 9 <= length && !memcmp(request + r.at, "GetRandom", 9)) {
        uint8_t random[256];
        if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) memset(random, 0x5A, sizeof random);
        put_head(out, 5, 1); put_text(out, "GetRandom"); put_head(out, 5, 1); put_text(out, "random"); put_bytes(out, random, sizeof random);
        return;
    }
    uint64_t keylen;
    size_t name_at = 0;
    if (major == 5 && value == 1 && get_head(&r, &keylen) == 3 && r.at + keylen <= length) name_at = r.at;
    if (name_at && (keylen == 11 || keylen == 9 || keylen == 7) &&
        (!memcmp(request + name_at, "DescribePCR", 11) || !memcmp(request + name_at, "ExtendPCR", 9) || !memcmp(request + name_at, "LockPCR", 7))) {
        const char *name = (const char *)request + name_at;
        r.at += keylen;
        uint64_t index;
        struct field data = { 0 };
        if (read_pcr_fields(&r, &index, &data) != 0) { error_answer(out, "InvalidArgument"); return; }
        if (keylen == 11) {
            put_head(out, 5, 1); put_text(out, "DescribePCR"); put_head(out, 5, 2);
            put_text(out, "lock"); out->data[out->len++] = (index < 16 || locked[index]) ? 0xF5 : 0xF4;
            put_text(out, "data"); put_bytes(out, pcrs[index], 48);
            return;
        }
        if (index < 16 || locked[index]) { error_answer(out, "ReadOnlyIndex"); return; }
        if (keylen == 7 && !memcmp(name, "LockPCR", 7)) { locked[index] = 1; put_text(out, "LockPCR"); return; }
        if (!data.bytes) { error_answer(out, "InvalidArgument"); return; }
        uint8_t joined[48 + 1024];
        if (data.len > 1024) { error_answer(out, "InputTooLarge"); return; }
        memcpy(joined, pcrs[index], 48);
        memcpy(joined + 48, data.bytes, data.len);
        SHA384(joined, 48 + data.len, pcrs[index]);
        put_head(out, 5, 1); put_text(out, "ExtendPCR"); put_head(out, 5, 1); put_text(out, "data"); put_bytes(out, pcrs[index], 48);
        return;
    }
    if (major == 5 && value == 1 && name_at && keylen == 11 && !memcmp(request + r.at, "Attestation", 11)) {
        r.at += 11;
        struct field user_data = { 0 }, nonce = { 0 }, public_key = { 0 };
        if (read_attestation(&r, &user_data, &nonce, &public_key) == 0) {
            // The payload: a map echoing the fields, as a real document's payload carries them.
            struct buf payload = { .len = 0 };
            put_head(&payload, 5, 5);
            put_text(&payload, "module_id"); put_text(&payload, "nsm-standin (qemu test, NOT a real NSM)");
            put_text(&payload, "digest"); put_text(&payload, "SHA384");
            struct field *fields[3] = { &user_data, &nonce, &public_key };
            const char *names[3] = { "user_data", "nonce", "public_key" };
            for (int i = 0; i < 3; i++) {
                put_text(&payload, names[i]);
                if (fields[i]->bytes) put_bytes(&payload, fields[i]->bytes, fields[i]->len); else payload.data[payload.len++] = 0xF6;
            }
            // COSE_Sign1: tag 18, [protected {1: -35} as bytes, {}, payload, empty signature].
            struct buf document = { .len = 0 };
            const uint8_t protected_header[] = { 0xA1, 0x01, 0x38, 0x22 };
            put_head(&document, 6, 18); put_head(&document, 4, 4);
            put_bytes(&document, protected_header, sizeof protected_header);
            put_head(&document, 5, 0);
            put_bytes(&document, payload.data, payload.len);
            put_bytes(&document, NULL, 0);
            put_head(out, 5, 1); put_text(out, "Attestation"); put_head(out, 5, 1); put_text(out, "document"); put_bytes(out, document.data, document.len);
            return;
        }
    }
    error_answer(out, "InvalidOperation");
}

// --- CUSE ----------------------------------------------------------------------------------
static void ioctl_request(const struct fuse_in_header *in, const struct fuse_ioctl_in *io, const uint8_t *data) {
    if (io->cmd != NSM_IOCTL_RAW) { reply(in->unique, -ENOTTY, NULL, 0, NULL, 0); return; }
    struct fuse_ioctl_iovec raw_iov = { io->arg, sizeof(struct nsm_raw) };
    if (io->in_size < sizeof(struct nsm_raw)) {
        // First round: ask for the struct itself.
        struct fuse_ioctl_out retry = { .flags = FUSE_IOCTL_RETRY, .in_iovs = 1, .out_iovs = 1 };
        struct fuse_ioctl_iovec iovs[2] = { raw_iov, raw_iov };
        reply(in->unique, 0, &retry, sizeof retry, iovs, sizeof iovs);
        return;
    }
    struct nsm_raw raw;
    memcpy(&raw, data, sizeof raw);
    if (raw.request.iov_len > 0x1000 || raw.response.iov_len > 0x3000) { reply(in->unique, -EINVAL, NULL, 0, NULL, 0); return; }
    if (io->in_size < sizeof raw + raw.request.iov_len) {
        // Second round: the struct and the request's bytes in; the struct and the response's buffer out.
        struct fuse_ioctl_out retry = { .flags = FUSE_IOCTL_RETRY, .in_iovs = 2, .out_iovs = 2 };
        struct fuse_ioctl_iovec iovs[4] = {
            raw_iov, { (uint64_t)(uintptr_t)raw.request.iov_base, raw.request.iov_len },
            raw_iov, { (uint64_t)(uintptr_t)raw.response.iov_base, raw.response.iov_len },
        };
        reply(in->unique, 0, &retry, sizeof retry, iovs, sizeof iovs);
        return;
    }
    static struct buf response;
    answer(data + sizeof raw, raw.request.iov_len, &response);
    if (response.len > raw.response.iov_len) { reply(in->unique, -ENOMEM, NULL, 0, NULL, 0); return; }
    raw.response.iov_len = response.len;
    struct fuse_ioctl_out done = { .result = 0 };
    uint8_t out[sizeof raw + sizeof response.data];
    memcpy(out, &raw, sizeof raw);
    memcpy(out + sizeof raw, response.data, response.len);
    // The output fills the out iovecs in order: the struct (with the answer's length), then the answer.
    struct fuse_out_header header = { .len = (uint32_t)(sizeof header + sizeof done + sizeof raw + response.len), .error = 0, .unique = in->unique };
    struct iovec parts[3] = { { &header, sizeof header }, { &done, sizeof done }, { out, sizeof raw + response.len } };
    if (writev(cuse, parts, 3) < 0) fprintf(stderr, "nsm-standin: reply: %s\n", strerror(errno));
    fprintf(stderr, "nsm-standin: answered a %zu-byte request with %zu bytes\n", raw.request.iov_len, response.len);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/dev/cuse";
    cuse = open(path, O_RDWR);
    if (cuse < 0) { fprintf(stderr, "nsm-standin: open %s: %s\n", path, strerror(errno)); return 1; }
    static uint8_t message[0x21000];
    for (;;) {
        ssize_t got = read(cuse, message, sizeof message);
        if (got < 0) {
            if (errno == EINTR || errno == ENOENT || errno == EAGAIN) continue;
            fprintf(stderr, "nsm-standin: read: %s\n", strerror(errno));
            return 1;
        }
        if ((size_t)got < sizeof(struct fuse_in_header)) continue;
        const struct fuse_in_header *in = (const void *)message;
        const uint8_t *body = message + sizeof *in;
        switch (in->opcode) {
        case CUSE_INIT: {
            const struct cuse_init_in *init = (const void *)body;
            struct cuse_init_out out = { .major = FUSE_KERNEL_VERSION, .minor = init->minor < FUSE_KERNEL_MINOR_VERSION ? init->minor : FUSE_KERNEL_MINOR_VERSION,
                                         .flags = CUSE_UNRESTRICTED_IOCTL, .max_read = 0x3000, .max_write = 0x3000 };
            static const char info[] = "DEVNAME=nsm";
            reply(in->unique, 0, &out, sizeof out, info, sizeof info);
            fprintf(stderr, "nsm-standin: /dev/nsm registered (a CUSE stand-in, not a real NSM)\n");
            break;
        }
        case FUSE_OPEN: {
            struct fuse_open_out out = { 0 };
            reply(in->unique, 0, &out, sizeof out, NULL, 0);
            break;
        }
        case FUSE_RELEASE: reply(in->unique, 0, NULL, 0, NULL, 0); break;
        case FUSE_IOCTL: ioctl_request(in, (const void *)body, body + sizeof(struct fuse_ioctl_in)); break;
        case FUSE_INTERRUPT: break; // no reply
        default: reply(in->unique, -ENOSYS, NULL, 0, NULL, 0); break;
        }
    }
}
