# The parent instance, played inside the guest over vsock loopback (CID 1), and the NSM's
# CUSE stand-in (TEST-ONLY, as in nsm/: an unsigned document echoing the public key). KMS is
# on this machine: moto behind TLS with the KMS stand-in (Tests/SandboxTests/standins), reached
# through qemu's user network (restricted: only 10.0.2.100:443, forwarded to it).
/e2e/bin/nsm_standin /e2e/dev/cuse 2> /dev/console &
for _ in $(seq 1 100); do [ -e /e2e/dev/nsm ] && break; sleep 0.1; done
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
AWS_ACCESS_KEY_ID=@ACCESS_KEY_ID@ AWS_SECRET_ACCESS_KEY=@SECRET_ACCESS_KEY@ \
  /init parent --config /etc/enclave-init/boot.json --enclave-cid 1 2>&1 | tee /e2e/run/parent.log > /dev/console &
for _ in $(seq 1 300); do grep -q "listening: kms credentials" /e2e/run/parent.log 2> /dev/null && break; sleep 0.1; done
