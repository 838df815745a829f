/// The app the network sandbox tests run: it reports, as JSON, what a program in the enclave
/// sees — lo's flags and addresses, the hostname, what names resolve to through /etc/hosts,
/// and whether it can listen on and connect to each alias.
let networkProbe = #"""
import json, socket, subprocess, sys
out_path, aliases, names = sys.argv[1], [a for a in sys.argv[2].split(",") if a], [n for n in sys.argv[3].split(",") if n]
def run(*command):
    return subprocess.run(command, capture_output=True, text=True).stdout
report = {"link": run("ip", "-o", "link", "show", "lo"), "addr": run("ip", "-o", "addr", "show", "lo"),
          "hostname": socket.gethostname(), "resolve": {}, "connect": {}}
for name in names:
    fields = run("getent", "ahostsv4", name).split()
    report["resolve"][name] = fields[0] if fields else None
for alias in aliases:
    try:
        server = socket.socket(); server.bind((alias, 0)); server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=2)
        peer, _ = server.accept(); client.sendall(b"ping"); ok = peer.recv(4) == b"ping"
        for s in (client, peer, server): s.close()
        report["connect"][alias] = ok
    except OSError as error:
        report["connect"][alias] = str(error)
json.dump(report, open(out_path, "w"))
"""#
