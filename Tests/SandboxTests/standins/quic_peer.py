"""An HTTP/3 GET over QUIC with aioquic (PyPI), a QUIC stack nobody here wrote.

  serve ADDRESS PORT CERT KEY [READY]   answers every GET with "quic says hello to PATH"; creates
                                        the file READY once it listens
  get HOST PORT CAFILE PATH     prints the status and the body, or the error
"""
import asyncio
import sys

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated


class Server(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = None

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated):
            self.h3 = H3Connection(self._quic)
        if self.h3 is None:
            return
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                path = dict(h3_event.headers).get(b":path", b"/")
                body = b"quic says hello to " + path
                self.h3.send_headers(h3_event.stream_id, [(b":status", b"200"), (b"content-length", str(len(body)).encode())])
                self.h3.send_data(h3_event.stream_id, body, end_stream=True)
                self.transmit()


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.status = None
        self.body = b""
        self.done = None

    async def get(self, authority, path):
        stream = self._quic.get_next_available_stream_id()
        self.h3.send_headers(stream, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", authority.encode()),
                                      (b":path", path.encode())], end_stream=True)
        self.done = self._loop.create_future()
        self.transmit()
        await asyncio.wait_for(self.done, 10)
        return self.status, self.body

    def quic_event_received(self, event):
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                self.status = dict(h3_event.headers).get(b":status", b"?").decode()
            elif isinstance(h3_event, DataReceived):
                self.body += h3_event.data
            if getattr(h3_event, "stream_ended", False) and self.done and not self.done.done():
                self.done.set_result(True)


async def run_server(address, port, cert, key, ready=None):
    configuration = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    configuration.load_cert_chain(cert, key)
    await serve(address, int(port), configuration=configuration, create_protocol=Server)
    if ready:
        open(ready, "w").close()
    await asyncio.Future()


async def run_client(host, port, cafile, path):
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=host)
    configuration.load_verify_locations(cafile)
    async with connect(host, int(port), configuration=configuration, create_protocol=Client, wait_connected=True) as client:
        status, body = await client.get("%s:%s" % (host, port), path)
        print("status", status)
        print("body", body.decode())


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(run_server(*sys.argv[2:7]))
    else:
        try:
            asyncio.run(asyncio.wait_for(run_client(*sys.argv[2:6]), 20))
        except Exception as error:  # the test prints how it failed
            print("error:", error.__class__.__name__, error)
