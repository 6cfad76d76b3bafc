#!/usr/bin/env node
/*
 * A small line-based TCP service for the telnet-gateway example, in the manner of a telnet
 * host: it echoes what is typed (character mode, as a terminal expects), runs a command at
 * Enter, and can talk on its own (`ticks`) so that output piles up while a client is away.
 *   node line-service.mjs [PORT]      (default 2323, on 127.0.0.1)
 * Commands: help, echo TEXT, count N, ticks N, time, quit.
 */
import { createServer } from 'node:net';

const port = Number(process.argv[2] ?? 2323);
const HELP = 'commands: help, echo TEXT, count N (N numbered lines), ticks N (a line a second, N times), time, quit';

function run(socket, line) {
  const [command = '', ...rest] = line.trim().split(/\s+/);
  const argument = rest.join(' ');
  switch (command) {
    case '':
      return;
    case 'help':
      socket.write(`${HELP}\r\n`);
      return;
    case 'echo':
      socket.write(`${argument}\r\n`);
      return;
    case 'count': {
      const n = Math.min(Number(argument) || 10, 100000);
      let out = '';
      for (let i = 1; i <= n; i++) out += `line ${i} of ${n}\r\n`;
      socket.write(out);
      return;
    }
    case 'ticks': {
      let left = Math.min(Number(argument) || 10, 3600);
      const timer = setInterval(() => {
        socket.write(`tick ${new Date().toISOString()} (${--left} to go)\r\n`);
        if (left <= 0) clearInterval(timer);
      }, 1000);
      socket.once('close', () => clearInterval(timer));
      return;
    }
    case 'time':
      socket.write(`${new Date().toISOString()}\r\n`);
      return;
    case 'quit':
      socket.end('bye\r\n');
      return;
    default:
      socket.write(`unknown command "${command}"; ${HELP}\r\n`);
  }
}

createServer((socket) => {
  let line = '';
  socket.on('error', () => socket.destroy());
  socket.write(`line service on ${socket.localAddress}:${socket.localPort}\r\n${HELP}\r\n> `);
  socket.on('data', (chunk) => {
    for (const char of chunk.toString('utf8')) {
      if (char === '\r' || char === '\n') {
        if (char === '\n' && line === '' ) continue;
        socket.write('\r\n');
        run(socket, line);
        line = '';
        if (!socket.writableEnded) socket.write('> ');
      } else if (char === '\x7f' || char === '\b') {
        if (line.length > 0) {
          line = line.slice(0, -1);
          socket.write('\b \b');
        }
      } else if (char >= ' ') {
        line += char;
        socket.write(char);
      }
    }
  });
}).listen(port, '127.0.0.1', () => process.stdout.write(`line service listening on 127.0.0.1:${port}\n`));
