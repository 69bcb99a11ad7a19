// node_echo: the project's Node.js echo server (net module), an anchor of bench/idle_memory.sh.
//   node node_echo.js PORT     listens on 127.0.0.1:PORT; SIGTERM stops it
'use strict';
const net = require('net');

const port = Number(process.argv[2]);
const server = net.createServer({ noDelay: true }, (sock) => {
  sock.on('error', () => sock.destroy());
  sock.pipe(sock);
});
server.listen({ port, host: '127.0.0.1', backlog: 4096 });
process.on('SIGTERM', () => process.exit(0));
