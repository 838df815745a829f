# A required mount whose server never answers (nothing listens behind the parent's 2050), with
# 120 s to keep trying; `enclave-init parent stop` 4 s into the boot. The stop must be answered
# at once, in the middle of the retries, with 143: not after the 120 s, and not by giving up.
/init parent --config /etc/enclave-init/boot.json > /dev/console 2>&1 &
(
  sleep 4
  echo "harness: 4 s into the mount retries; enclave-init parent stop" > /dev/console
  /init parent stop --config /etc/enclave-init/boot.json --enclave-cid 1 --timeout 30 > /dev/console 2>&1
) &
