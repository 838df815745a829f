# The app: no proxy settings, busybox's own resolver and wget, real vsock and netfilter.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
echo "app: resolv.conf $(grep nameserver /etc/resolv.conf | head -1)"
echo "app: api resolves to $(nslookup api.example.test 2>&1 | sed -n 's/^Address: *\(198[0-9.]*\).*/\1/p' | head -1)"
echo "app: blocked lookup: $(nslookup blocked.example.test 2>&1 | grep -o 'REFUSED' | head -1)"
echo "app: fetched directly: $(timeout 10 wget -q -O - http://198.18.0.10:8082/hello.txt 2>&1)"
# sneaky.example.test is allowed by name but resolves to a denied address: named by the
# stub's answer, the captured connection is refused in the enclave.
nslookup sneaky.example.test > /dev/null 2>&1
if timeout 10 wget -q -O - http://198.18.0.11:8082/hello.txt > /dev/null 2>&1; then echo "app: denied address served"; else echo "app: denied address refused"; fi
echo "app: done"
