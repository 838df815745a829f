/// Small Python programs the relay sandbox tests run on either side.
enum RelayScripts {
    /// A Unix-socket echo server standing in for the parent (listens at argv[1]).
    static let unixEchoServer = #"""
    import asyncio, os, sys
    async def echo(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
    async def main():
        server = await asyncio.start_unix_server(echo, path=sys.argv[1], backlog=4096)
        print("ready", flush=True)
        await server.serve_forever()
    asyncio.run(main())
    """#

    /// Opens argv[3] connections to argv[1]:argv[2], holds them all open, and makes every one
    /// exchange a line in each of 3 rounds; writes how many finished every round to argv[4].
    static let manyConnectionsClient = #"""
    import asyncio, sys
    host, port, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    async def main():
        connections = await asyncio.gather(*[asyncio.open_connection(host, port) for _ in range(count)])
        done = [0] * count
        for round_ in range(3):
            async def exchange(i):
                reader, writer = connections[i]
                line = f"connection {i} round {round_}\n".encode()
                writer.write(line)
                await writer.drain()
                if await asyncio.wait_for(reader.readline(), 30) == line:
                    done[i] += 1
            await asyncio.gather(*[exchange(i) for i in range(count)])
        open(out, "w").write(str(sum(1 for d in done if d == 3)))
    asyncio.run(main())
    """#

    /// The app side of the ingress test: an upper-casing server on 127.0.0.1:argv[1], and a
    /// file argv[2] created once it listens.
    static let upperCaseServer = #"""
    import socket, sys
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(sys.argv[1])))
    server.listen(16)
    open(sys.argv[2], "w").close()
    while True:
        connection, _ = server.accept()
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
        connection.sendall(data.upper())
        connection.close()
    """#
}

extension RelayScripts {
    /// The app of the descriptor-exhaustion test: waits for argv[4] to exist, opens argv[3]
    /// connections at once (more than enclave-init has descriptors for), holds them 1.5 s while
    /// reading enclave-init's CPU time, closes them, waits for enclave-init's descriptors to come
    /// back, then checks that 5 new connections work.
    static let exhaustionClient = #"""
    import asyncio, json, os, sys, time
    host, port, count, go, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    def cpu_seconds(pid):
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    async def echo_once(timeout):
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.write(b"ping\n"); await writer.drain()
            ok = await asyncio.wait_for(reader.readline(), timeout) == b"ping\n"
            return ok, writer
        except Exception:
            if writer: writer.close()  # a connection left open would keep holding enclave-init's descriptors
            return False, None
    async def main():
        while not os.path.exists(go): await asyncio.sleep(0.01)
        parent = os.getppid()
        baseline = len(os.listdir(f"/proc/{parent}/fd"))
        results = await asyncio.gather(*[echo_once(2) for _ in range(count)])
        before = cpu_seconds(parent); start = time.monotonic()
        await asyncio.sleep(1.5)
        cpu = (cpu_seconds(parent) - before) / (time.monotonic() - start)
        for _, writer in results:
            if writer: writer.close()
        # The connections still waiting in the kernel's backlog are accepted (after the back-off)
        # and end at once; wait until enclave-init's descriptors are back before measuring.
        closed = time.monotonic(); deadline = closed + 15
        while len(os.listdir(f"/proc/{parent}/fd")) > baseline and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        released = time.monotonic() - closed
        await asyncio.sleep(1.5)
        later = await asyncio.gather(*[echo_once(20) for _ in range(5)])
        json.dump({"served": sum(ok for ok, _ in results), "cpu": cpu, "later": sum(ok for ok, _ in later),
                   "baseline": baseline, "released": released}, open(out, "w"))
    asyncio.run(main())
    """#
}
