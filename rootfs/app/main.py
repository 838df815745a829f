"""Example enclave app: an HTTP server on 127.0.0.1:8080 (reached from the parent through
ingress: parent TCP 8080 -> vsock 5000 -> here). It reports what enclave-init set up for it,
and ends cleanly (exit 0) on the SIGTERM of a graceful stop."""
import http.server
import os
import signal
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        lines = [
            "hello from the enclave",
            "hostname: " + socket.gethostname(),
            "kms resolves to: " + socket.gethostbyname("kms.us-east-1.amazonaws.com"),
            "https_proxy: " + os.environ.get("https_proxy", "(unset)"),
            "mode: " + os.environ.get("MODE", "(unset)"),
        ]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    http.server.ThreadingHTTPServer(("127.0.0.1", 8080), Handler).serve_forever()
