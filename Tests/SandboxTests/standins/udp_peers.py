"""UDP peers for the egress.udp sandbox tests, both sides.

Servers (in the parent's network namespace, the test's "internet"):
  serve ADDRESS [READY]   (READY: a file made once every socket is bound) echo on :7000, a counter on :9999 (a datagram "report" gets the count back),
                  and on :7001 a server that answers each datagram twice: first from another
                  port (:7002), which the app must never see, then from :7001 itself.
Clients (the app in the enclave, with no proxy settings: the TUN device captures them):
  echo HOST PORT SIZE          one datagram of SIZE random bytes; prints "intact", "changed" or the error
  flood HOST PORT COUNT        COUNT datagrams, then "report" until the count comes back; prints it
  wrongport HOST PORT          prints every source a datagram came from within 2 s
  refused HOST PORT            a connected socket's send and receive; prints the error (ECONNREFUSED expected)
"""
import os
import socket
import sys
import threading
import time


def serve(address, ready=None):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind((address, 7000))
    counter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    counter.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    counter.bind((address, 9999))
    right = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    right.bind((address, 7001))
    wrong = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wrong.bind((address, 7002))

    def run_echo():
        while True:
            data, peer = echo.recvfrom(65535)
            echo.sendto(data, peer)

    def run_counter():
        count = 0
        while True:
            data, peer = counter.recvfrom(65535)
            if data == b"report":
                counter.sendto(str(count).encode(), peer)
            else:
                count += 1

    def run_wrong_port():
        while True:
            data, peer = right.recvfrom(65535)
            wrong.sendto(b"from the wrong port", peer)
            time.sleep(0.2)
            right.sendto(b"from the right port", peer)

    for target in (run_echo, run_counter, run_wrong_port):
        threading.Thread(target=target, daemon=True).start()
    if ready:
        open(ready, "w").close()
    threading.Event().wait()


def client(command, host, port, extra):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    target = (socket.gethostbyname(host), int(port))
    try:
        if command == "echo":
            data = os.urandom(int(extra))
            sock.sendto(data, target)
            answer, _ = sock.recvfrom(65535)
            print("intact" if answer == data else "changed (%d bytes back)" % len(answer))
        elif command == "flood":
            for index in range(int(extra)):
                sock.sendto(b"datagram %d" % index, target)
                if index % 200 == 199:
                    time.sleep(0.01)  # fire and forget, at a pace the receiving socket keeps up with
            sock.settimeout(1)
            for _ in range(10):
                sock.sendto(b"report", target)
                try:
                    answer, _ = sock.recvfrom(100)
                    print("received", answer.decode())
                    return
                except socket.timeout:
                    continue
            print("error: no report")
        elif command == "wrongport":
            sock.sendto(b"hello", target)
            sock.settimeout(0.5)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                try:
                    answer, peer = sock.recvfrom(100)
                    print("%s:%d %s" % (peer[0], peer[1], answer.decode()))
                except socket.timeout:
                    pass
        elif command == "refused":
            start = time.monotonic()
            sock.connect(target)
            sock.send(b"anyone?")
            try:
                sock.recv(100)
                print("answered")
            except OSError as error:
                print("error: %s %s" % (error.__class__.__name__, error.errno))
            print("seconds: %.1f" % (time.monotonic() - start))
    except OSError as error:
        print("error: %s %s" % (error.__class__.__name__, error.errno))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(*sys.argv[2:4])
    else:
        client(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
