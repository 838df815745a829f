// OpenSSL (libssl, libcrypto): TLS to KMS, the enclave's RSA key, the CMS envelope KMS
// answers with, SigV4's HMAC-SHA256, the SHA-384 and SHA-256 digests of enclave images, and the
// verifier's X.509 chains and ECDSA P-384 signatures (enclave-init verify).
// Linked statically into the image binary.
#include <stdio.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// Macros Swift cannot call.
static inline long ei_ssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

// EVP_RSA_gen is a macro over a variadic function.
static inline EVP_PKEY *ei_rsa_generate(unsigned int bits) {
    return EVP_RSA_gen(bits);
}

static inline long ei_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}

// STACK_OF(X509) is reached through macros: the verifier's untrusted intermediates.
static inline STACK_OF(X509) *ei_x509_stack_new(void) { return sk_X509_new_null(); }
static inline int ei_x509_stack_push(STACK_OF(X509) *stack, X509 *certificate) { return sk_X509_push(stack, certificate); }
static inline void ei_x509_stack_free(STACK_OF(X509) *stack) { sk_X509_free(stack); }

// EVP_EC_gen is a macro over a variadic function: the attested ingress's key, made in memory.
static inline EVP_PKEY *ei_ec_generate(const char *curve) { return EVP_EC_gen(curve); }
// BIO_pending is a macro: how many bytes a memory BIO holds (the TLS engine's output).
static inline long ei_bio_pending(BIO *bio) { return (long)BIO_pending(bio); }

// This thread's queued OpenSSL errors as one line ("a; b"), the queue emptied: written once here
// for every module that reports OpenSSL's reasons (KMS, the attested ingress).
static inline void ei_openssl_errors(char *buffer, size_t size) {
    size_t used = 0;
    unsigned long code;
    buffer[0] = '\0';
    while ((code = ERR_get_error()) != 0) {
        char line[256];
        ERR_error_string_n(code, line, sizeof line);
        int written = snprintf(buffer + used, size - used, "%s%s", used ? "; " : "", line);
        if (written < 0 || (size_t)written >= size - used) { used = size - 1; continue; }
        used += (size_t)written;
    }
}

// SSL_CTX_add1_chain_cert is a macro: an ACME CA's intermediates, sent after the leaf.
static inline long ei_ssl_ctx_add_chain_certificate(SSL_CTX *ctx, X509 *certificate) {
    return SSL_CTX_add1_chain_cert(ctx, certificate);
}

// STACK_OF(X509_EXTENSION) is reached through macros: an ACME order's CSR names its DNS names
// in a subjectAltName request extension.
static inline int ei_x509_req_add_extension(X509_REQ *request, X509_EXTENSION *extension) {
    STACK_OF(X509_EXTENSION) *extensions = sk_X509_EXTENSION_new_null();
    if (extensions == NULL) return 0;
    int ok = sk_X509_EXTENSION_push(extensions, extension) > 0 && X509_REQ_add_extensions(request, extensions) == 1;
    sk_X509_EXTENSION_free(extensions); // the extension itself stays the caller's
    return ok;
}

// A memory BIO holding its own copy of `length` bytes. BIO_new_mem_buf would point into the
// caller's buffer, and a Swift array's storage is not promised past the closure that lends it
// (a release build once read one certificate of a chain and then garbage).
static inline BIO *ei_bio_copying(const void *bytes, size_t length) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    if (length > 0 && BIO_write(bio, bytes, (int)length) != (int)length) { BIO_free(bio); return NULL; }
    return bio;
}
