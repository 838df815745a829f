# The parent instance, played inside the guest over vsock loopback (CID 1), in a network
# namespace of its own: the test hosts 198.18.0.10 and .11 exist only there, with a web
# server on each, a dnsmasq on its 127.0.0.1:53 that names them (the enclave's 127.0.0.1:53 is
# the stub), and `enclave-init parent`. vsock is not namespaced, so both halves meet over it.
# Its own namespace also keeps the enclave's capture rule off the parent's own connections.
/e2e/bin/vsock_echo 9000 2> /dev/console &
mkdir -p /www10 /www11
echo "hello from 198.18.0.10" > /www10/hello.txt
echo "should never be served" > /www11/hello.txt
unshare -n sh -c '
  ip link set lo up
  ip addr add 198.18.0.10/32 dev lo
  ip addr add 198.18.0.11/32 dev lo
  httpd -p 198.18.0.10:8082 -h /www10
  httpd -p 198.18.0.11:8082 -h /www11
  /usr/sbin/dnsmasq --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces --user=root --log-queries --log-facility=- \
    --pid-file=/e2e/run/dnsmasq.pid --host-record=api.example.test,198.18.0.10 \
    --host-record=sneaky.example.test,198.18.0.11 --host-record=blocked.example.test,198.18.0.11
  exec /init parent --config /etc/enclave-init/boot.json --enclave-cid 1
' 2>&1 | tee /e2e/run/parent.log > /dev/console &
# The parent half reads /proc/self/exe as its runtime starts: wait until it listens before
# the harness unmounts /proc.
for _ in $(seq 1 300); do grep -q "listening: dns" /e2e/run/parent.log 2> /dev/null && break; sleep 0.1; done
