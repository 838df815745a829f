# The parent instance, played inside the guest over vsock loopback (CID 1), in a network
# namespace of its own where the test hosts of 198.18.0.0/15 exist: chronyd serving NTP (-x: it
# never touches the guest's clock), dnsmasq naming the hosts on 127.0.0.1 and answering by
# address on 198.18.0.53 and .54, a socat UDP echo, a web server for TCP, and `enclave-init
# parent`. vsock is not namespaced, so both halves meet over it.
/e2e/bin/vsock_echo 9000 2> /dev/console &
mkdir -p /www /run/chrony
echo "tcp still captured" > /www/hello.txt
printf 'bindaddress 198.18.0.123\nport 123\nallow all\nlocal stratum 8\npidfile /e2e/run/chronyd.pid\ncmdport 0\n' > /e2e/run/chrony-server.conf
unshare -n sh -c '
  ip link set lo up
  for address in 198.18.0.10 198.18.0.53 198.18.0.54 198.18.0.123; do ip addr add $address/32 dev lo; done
  httpd -p 198.18.0.10:8082 -h /www
  /usr/sbin/dnsmasq --no-resolv --no-hosts --listen-address=127.0.0.1 --listen-address=198.18.0.53 --listen-address=198.18.0.54 \
    --bind-interfaces --user=root --pid-file=/e2e/run/dnsmasq.pid --address=/udp-check.test/203.0.113.7 \
    --host-record=ntp.example.test,198.18.0.123 --host-record=echo.example.test,198.18.0.10
  /usr/sbin/chronyd -x -u root -f /e2e/run/chrony-server.conf 2> /dev/console
  /usr/sbin/socat -b 65536 UDP4-RECVFROM:7000,bind=198.18.0.10,fork SYSTEM:cat &
  exec /init parent --config /etc/enclave-init/boot.json --enclave-cid 1
' 2>&1 | tee /e2e/run/parent.log > /dev/console &
# The parent half reads /proc/self/exe as its runtime starts: wait until it listens before
# the harness unmounts /proc.
for _ in $(seq 1 300); do grep -q "listening: udp" /e2e/run/parent.log 2> /dev/null && break; sleep 0.1; done
