"""A parent half that lies: the egress.udp stream's far end, written to misbehave (the real
parent half never does this). On its first stream it answers the app's flow after 10,000
datagram frames for flows that do not exist, then sends a frame that is no frame (type 9);
on the next stream it answers properly. Listens on the emulated vsock socket PATH.

  hostile_udp_parent.py PATH
"""
import socket
import struct
import sys


def read_exactly(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(connection):
    kind, flow, length = struct.unpack("!BIH", read_exactly(connection, 7))
    return kind, flow, read_exactly(connection, length)


def frame(kind, flow, body=b""):
    return struct.pack("!BIH", kind, flow, len(body)) + body


server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen(4)
for stream in range(2):
    connection, _ = server.accept()
    try:
        while True:
            kind, flow, body = read_frame(connection)
            if kind != 2:  # open and close frames need no answer
                continue
            if stream == 0:
                flood = b"".join(frame(2, 1_000_000 + index, b"not yours") for index in range(10_000))
                connection.sendall(flood + frame(2, flow, b"the real answer") + frame(9, flow, b""))
            else:
                connection.sendall(frame(2, flow, b"after reconnecting"))
    except (EOFError, ConnectionResetError):
        connection.close()
