// node_http: the project's Node.js HTTP/1.1 server (http module, keep-alive), answering what
// samples/http_server answers at "/" -- an anchor of bench/idle_memory.sh.
//   node node_http.js PORT     listens on 127.0.0.1:PORT; SIGTERM stops it
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
const body = 'Hello from lwt++\n';
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 0;  // idle keep-alive connections stay open, as in http_server
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen({ port, host: '127.0.0.1', backlog: 4096 });
process.on('SIGTERM', () => process.exit(0));
