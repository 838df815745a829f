"""The demo's enclave app. It knows nothing about vsock: it asks "KMS" by its real DNS name
(enclave-init's /etc/hosts entry and proxy carry the request to the parent, which resolves
the name there), then serves a page on 127.0.0.1:8080 that the parent reaches through ingress."""
import http.server
import socket
import urllib.request

URL = "http://kms.us-east-1.amazonaws.com/GenerateDataKey"
answer = urllib.request.urlopen(URL, timeout=10).read().decode().strip()
print(f"app: {URL} answered {answer}")


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = "\n".join([
            "hello from the enclave",
            "hostname: " + socket.gethostname(),
            "kms.us-east-1.amazonaws.com resolves to " + socket.gethostbyname("kms.us-east-1.amazonaws.com"),
            "kms answered: " + answer,
        ]).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print("app: served " + format % args)


print("app: serving on 127.0.0.1:8080")
http.server.ThreadingHTTPServer(("127.0.0.1", 8080), Page).serve_forever()
