#!/usr/bin/env python3
"""TEST-ONLY: joins vhost-device-vsock's Unix socket for one host port to `enclave-init
parent`'s emulated one, the way vsock itself would: each connection arrives at the parent
from the guest's CID. Under the emulation a peer's CID is the abstract source address
"ei-vsock-cid-<cid>-..." (what enclave-init's own emulated clients bind); socat cannot bind
one, so this does, one thread pair per connection.

  vsock_cid_bridge.py LISTEN_PATH TARGET_PATH CID
"""
import os, socket, sys, threading

listen_path, target_path, cid = sys.argv[1], sys.argv[2], int(sys.argv[3])
counter = 0


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
    global counter
    counter += 1
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    upstream.bind("\0ei-vsock-cid-%d-%d-%d" % (cid, os.getpid(), counter))
    try:
        upstream.connect(target_path)
    except OSError:
        client.close()
        return
    threads = [threading.Thread(target=pump, args=pair, daemon=True) for pair in ((client, upstream), (upstream, client))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    upstream.close()


server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if os.path.exists(listen_path):
    os.unlink(listen_path)
server.bind(listen_path)
server.listen(16)
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
