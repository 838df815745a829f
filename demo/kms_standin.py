"""Stands in for an AWS endpoint on the parent side: plain HTTP on 127.0.0.1:18443 (the real
one is TLS; the relay carries bytes either way)."""
import http.server
import json
import sys


class Endpoint(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"KeyId": "demo-key", "Plaintext": "c2VjcmV0", "ServedBy": "the parent-side stand-in"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print("kms stand-in: " + format % args, flush=True)


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Endpoint).serve_forever()
