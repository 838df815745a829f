#!/usr/bin/env python3
"""TEST-ONLY: lets `enclave-init parent` dial a port of the guest inside QEMU's nitro-enclave
machine. The parent, under the emulation, connects to the Unix socket LISTEN_PATH
(DIR/<cid>-<port>); vhost-device-vsock reaches the guest through its own socket VHOST_PATH,
where a host connection first says "CONNECT <port>\\n" and gets "OK <host port>\\n" back. This
does that exchange for each connection, then carries the bytes both ways.

  vhost_connect_bridge.py LISTEN_PATH VHOST_PATH PORT
"""
import os, socket, sys, threading

listen_path, vhost_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(client):
    guest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        guest.connect(vhost_path)
        guest.sendall(b"CONNECT %d\n" % port)
        reply = b""
        while not reply.endswith(b"\n"):
            byte = guest.recv(1)  # one byte at a time: nothing after the line may be taken here
            if not byte:
                raise OSError("vhost-device-vsock closed before answering CONNECT %d" % port)
            reply += byte
        if not reply.startswith(b"OK "):
            raise OSError("vhost-device-vsock answered %r" % reply)
    except OSError as error:
        print("vhost_connect_bridge: %s" % error, file=sys.stderr, flush=True)
        client.close()
        guest.close()
        return
    threading.Thread(target=pump, args=(client, guest), daemon=True).start()
    pump(guest, client)


if os.path.exists(listen_path):
    os.unlink(listen_path)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(listen_path)
server.listen(64)
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
