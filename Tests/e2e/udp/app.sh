# The app: no proxy settings, UDP straight to addresses the enclave has no route to but its
# TUN device (real TUN, route and netfilter of the guest kernel, real vsock to the parent half).
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
echo "app: default route $(ip route show default)"
printf 'server ntp.example.test iburst maxsamples 4\npidfile /tmp/chronyd-q.pid\ncmdport 0\n' > /tmp/chrony-client.conf
echo "app: ntp: $(/usr/sbin/chronyd -Q -u root -f /tmp/chrony-client.conf 2>&1 | grep -o 'System clock wrong by [-0-9.]* seconds' | head -1)"
echo "app: dns by address: $(nslookup udp-check.test 198.18.0.53 2>&1 | grep -o '203\.0\.113\.7' | head -1)"
refused=$(timeout 10 nslookup udp-check.test 198.18.0.54 2>&1)
echo "app: dns by a refused address: $(echo "$refused" | grep -o '203\.0\.113\.7\|[Cc]onnection refused\|timed out' | head -1)"
echo "app: udp echo: $(echo 'hello over udp' | timeout 10 socat -T 3 - UDP4:echo.example.test:7000)"
head -c 8192 /dev/urandom > /tmp/8k
timeout 10 socat -b 65536 -T 3 - UDP4:198.18.0.10:7000 < /tmp/8k > /tmp/8k.back
if cmp -s /tmp/8k /tmp/8k.back; then echo "app: 8 KB datagram intact"; else echo "app: 8 KB datagram changed ($(wc -c < /tmp/8k.back) bytes back)"; fi
echo "app: denied port: $(echo x | timeout 10 socat -T 3 - UDP4:echo.example.test:7009 2>&1 | grep -o 'Connection refused' | head -1)"
echo "app: tcp: $(timeout 10 wget -q -O - http://echo.example.test:8082/hello.txt 2>&1)"
echo "app: done"
