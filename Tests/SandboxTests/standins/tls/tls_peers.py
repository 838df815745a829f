#!/usr/bin/env python3
"""TEST-ONLY peers of the attested ingress (AttestedIngressSandboxTests), on Python's ssl
(OpenSSL underneath, nobody here wrote it):

  tls_peers.py get PORT NAME CAFILE PATH   GET https://NAME:PORT/PATH, the name sent as SNI and checked
                                           against CAFILE; prints "<status> <TLS version> <ALPN> <body>"
  tls_peers.py hold PORT NAME CAFILE READY GET / with keep-alive, touch READY, then wait for the server
                                           to end the connection; prints "close_notify" (a clean TLS end)
                                           or "ragged: ..." (a TCP close without it)
  tls_peers.py mitm PORT UPSTREAM DIR      a man in the middle the parent could run: terminates TLS on
                                           127.0.0.1:PORT with its own key and a self-signed certificate
                                           for app.test (made in DIR), offering the client's ALPN choice
                                           to the real ingress on 127.0.0.1:UPSTREAM and relaying the
                                           plaintext both ways
"""
import http.client
import os
import socket
import ssl
import subprocess
import sys


def context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class ToLoopback(http.client.HTTPSConnection):
    """http.client's HTTPS as is, with the socket sent to 127.0.0.1 (no /etc/hosts edit):
    SNI and the certificate's name check still use the host name."""

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def get(port, name, cafile, path):
    connection = ToLoopback(name, int(port), context=context(cafile), timeout=10)
    connection.request("GET", "/" + path)
    version, alpn = connection.sock.version(), connection.sock.selected_alpn_protocol()
    response = connection.getresponse()
    print(response.status, version, alpn, response.read().decode())


def hold(port, name, cafile, ready):
    raw = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
    tls = context(cafile).wrap_socket(raw, server_hostname=name, suppress_ragged_eofs=False)
    tls.sendall(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
    head = tls.recv(65536)
    assert head.startswith(b"HTTP/1."), head
    open(ready, "w").close()
    try:
        while True:
            data = tls.recv(65536)
            if not data:
                print("close_notify")
                return
    except ssl.SSLEOFError as error:
        print("ragged:", error)
    except OSError as error:
        print("ragged:", error)


def mitm(port, upstream, directory):
    import asyncio
    key, cert = os.path.join(directory, "mitm.key"), os.path.join(directory, "mitm.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=app.test", "-addext", "subjectAltName=DNS:app.test"],
                   check=True, capture_output=True)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    server.set_alpn_protocols(["enclave-attestation/1", "http/1.1"])

    async def pump(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        writer.close()

    # One thread, asyncio's TLS on both sides: an SSL socket read and written from two threads
    # at once is not safe, and under load the relay stalled.
    async def relay(client_reader, client_writer):
        chosen = client_writer.get_extra_info("ssl_object").selected_alpn_protocol()
        outward = ssl.create_default_context()
        outward.check_hostname = False
        outward.verify_mode = ssl.CERT_NONE
        if chosen:
            outward.set_alpn_protocols([chosen])
        try:
            inner_reader, inner_writer = await asyncio.open_connection("127.0.0.1", int(upstream), ssl=outward, server_hostname="app.test")
        except (OSError, ssl.SSLError):
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, inner_writer), pump(inner_reader, client_writer))

    async def main():
        listener = await asyncio.start_server(relay, "127.0.0.1", int(port), ssl=server)
        print("listening", flush=True)
        await listener.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":
    {"get": get, "hold": hold, "mitm": mitm}[sys.argv[1]](*sys.argv[2:])
