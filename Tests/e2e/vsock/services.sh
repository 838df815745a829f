# The parent instance, played inside the guest over vsock loopback (CID 1): a web server,
# the heartbeat listener, `enclave-init parent` and an ingress client.
mkdir -p /www && echo "hello over real vsock" > /www/hello.txt
httpd -p 127.0.0.1:8081 -h /www
/e2e/bin/vsock_echo 9000 2> /dev/console &
# Wait until the parent half listens: the harness unmounts /proc next, and a static Swift
# binary finds its own path through /proc/self/exe while its runtime starts (without it:
# "Unable to obtain Swift runtime path" and the parent never runs). Under emulation the first
# start takes over a second, which once lost that race.
/init parent --config /etc/enclave-init/boot.json --enclave-cid 1 --ingress-bind 127.0.0.1 2>&1 | tee /e2e/run/parent.log > /dev/console &
for _ in $(seq 1 300); do grep -q "listening: status stream" /e2e/run/parent.log 2> /dev/null && break; sleep 0.1; done
(
  for _ in $(seq 1 600); do
    if page=$(timeout 5 wget -q -O - http://127.0.0.1:18080/page.txt 2> /dev/null); then
      echo "client: ingress answered: $page" > /dev/console
      touch /e2e/run/ingress-done
      exit 0
    fi
    sleep 0.1
  done
  echo "client: ingress never answered" > /dev/console
) &
