#!/usr/bin/env python3
"""TEST-ONLY: joins vhost-device-vsock's Unix sockets (QEMU's nitro-enclave machine) to
`enclave-init parent`'s emulated vsock ones, one thread pair per connection, both ways:

  vsock_cid_bridge.py LISTEN_PATH TARGET_PATH CID
      the guest -> the parent: vhost-device-vsock's socket for one host port (LISTEN_PATH) to
      the parent's emulated one, each connection arriving from the guest's CID as vsock would
      carry it. Under the emulation a peer's CID is the abstract source address
      "ei-vsock-cid-<cid>-..." (what enclave-init's own emulated clients bind); socat cannot
      bind one, so this does.
  vsock_cid_bridge.py --to-guest LISTEN_PATH VHOST_PATH PORT
      the parent -> the guest: the parent dials the guest (ingress, the control port) at its
      emulated address LISTEN_PATH (DIR/<cid>-<port>); each connection becomes
      vhost-device-vsock's exchange on its host socket VHOST_PATH: "CONNECT <port>\\n", then
      "OK <host port>\\n" back, then the bytes.
"""
import os, socket, sys, threading


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


def carry(client, upstream):
    threads = [threading.Thread(target=pump, args=pair, daemon=True) for pair in ((client, upstream), (upstream, client))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    upstream.close()


def from_guest(target_path, cid):
    counter = 0

    def open_upstream():
        nonlocal counter
        counter += 1
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.bind("\0ei-vsock-cid-%d-%d-%d" % (cid, os.getpid(), counter))
        upstream.connect(target_path)
        return upstream
    return open_upstream


def to_guest(vhost_path, port):
    def open_upstream():
        guest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
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
        return guest
    return open_upstream


def serve(client, open_upstream):
    try:
        upstream = open_upstream()
    except OSError as error:
        print("vsock_cid_bridge: %s" % error, file=sys.stderr, flush=True)
        client.close()
        return
    carry(client, upstream)


if sys.argv[1] == "--to-guest":
    listen_path, open_upstream = sys.argv[2], to_guest(sys.argv[3], int(sys.argv[4]))
else:
    listen_path, open_upstream = sys.argv[1], from_guest(sys.argv[2], int(sys.argv[3]))
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if os.path.exists(listen_path):
    os.unlink(listen_path)
server.bind(listen_path)
server.listen(64)
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection, open_upstream), daemon=True).start()
