# Out through the mapping (TCP alias -> real vsock -> enclave-init parent -> httpd), then serve
# a page for the ingress client until it has been fetched.
echo "app: fetched through vsock: $(timeout 10 wget -q -O - http://files.internal/hello.txt)"
mkdir -p /app-www && echo "served by the enclave app" > /app-www/page.txt
httpd -f -p 127.0.0.1:8080 -h /app-www &
for _ in $(seq 1 600); do [ -f /e2e/run/ingress-done ] && break; sleep 0.1; done
echo "app: done"
