// TEST-ONLY: Node's https (HTTP/1.1) and http2 clients against the attested ingress: the
// certificate checked against CAFILE for NAME, the socket to 127.0.0.1:PORT.
//   node client.js https|h2 PORT NAME CAFILE PATH   prints "<status> <ALPN> <body>"
const fs = require("fs");
const [mode, port, name, cafile, path] = process.argv.slice(2);
const ca = fs.readFileSync(cafile);
if (mode === "https") {
  const https = require("https");
  https.get({ host: "127.0.0.1", port: Number(port), servername: name, path: "/" + path, ca, headers: { Host: name } }, (response) => {
    let body = "";
    response.on("data", (chunk) => (body += chunk));
    response.on("end", () => console.log(`${response.statusCode} ${response.socket.alpnProtocol || "none"} ${body}`));
  }).on("error", (error) => { console.error(error); process.exit(1); });
} else {
  const http2 = require("http2");
  const session = http2.connect(`https://${name}:${port}`, { ca, servername: name, host: "127.0.0.1",
    createConnection: () => require("tls").connect({ host: "127.0.0.1", port: Number(port), servername: name, ca, ALPNProtocols: ["h2"] }) });
  session.on("error", (error) => { console.error(error); process.exit(1); });
  const request = session.request({ ":path": "/" + path });
  let body = "", status = 0;
  request.on("response", (headers) => (status = headers[":status"]));
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => { console.log(`${status} ${session.alpnProtocol} ${body}`); session.close(); });
}
