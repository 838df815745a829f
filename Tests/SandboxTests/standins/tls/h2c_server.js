// TEST-ONLY: the app behind an attested ingress with "alpn": ["h2"]: Node's own HTTP/2 server
// without TLS (h2c, prior knowledge), since enclave-init terminates TLS and hands it the plain
// HTTP/2 frames. Answers every request with "h2 <path>".
const http2 = require("http2");
const port = Number(process.argv[2]);
http2.createServer((request, response) => {
  response.end(`h2 ${request.url}`);
}).listen(port, "127.0.0.1");
