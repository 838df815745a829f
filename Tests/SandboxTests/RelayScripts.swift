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
