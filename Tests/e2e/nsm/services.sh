# A CUSE stand-in for the Nitro Secure Module (TEST-ONLY: its answers are not a real NSM's,
# its attestation document is an unsigned COSE_Sign1 echoing the request's fields). It
# registers /dev/nsm through CUSE with the real NSM_IOCTL_RAW ABI and keeps serving after the
# harness execs /init. enclave-init loads /nsm.ko itself (here a harmless module standing in).
/e2e/bin/nsm_standin /e2e/dev/cuse 2> /dev/console &
for _ in $(seq 1 100); do [ -e /e2e/dev/nsm ] && break; sleep 0.1; done
[ -e /e2e/dev/nsm ] && echo "harness: /dev/nsm is there" > /dev/console
