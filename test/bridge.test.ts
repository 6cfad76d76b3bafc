/*
 * The bridge end to end: the real websocksy process, real peers on every transport, a real
 * WebSocket client.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { closeClient, connect, sendWhileOpen, socketUnder } from './helpers/client.js';
import { streamServer, tcpEcho, tempDir, udpEcho, unixDgramEcho, unixEcho, type Peer } from './helpers/peers.js';
import { openDescriptors } from './helpers/process-figures.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const LOCAL = ['-l', '127.0.0.1', '-p', '0'];

async function withBridge<T>(peer: string, extra: readonly string[], body: (server: RunningWebsocksy) => Promise<T>): Promise<T> {
  const server = await startWebsocksy([...LOCAL, ...extra, '-c', `host=${peer}`]);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

describe('engine', () => {
  // WEBSOCKSY_ENGINE=js runs the suite on websocksy's JS engine (docs/engine.md): then that is the engine to expect.
  const jsEngine = process.env['WEBSOCKSY_ENGINE'] === 'js';
  test(jsEngine ? 'WEBSOCKSY_ENGINE=js: websocksy runs on its JS engine, and warns' : 'websocksy runs on the native uWebSockets.js engine, not the JS fallback', async () => {
    const echo = await tcpEcho();
    try {
      await withBridge(echo.address, [], async (server) => {
        const line = await server.waitForLog(/engine .*/);
        if (jsEngine) assert.match(line, /engine JS fallback build=websocksy-js uws=emulated .*cost=/);
        else {
          assert.match(line, /engine native build=uws_linux_x64_\d+\.node uws=20\.\d+(\.\d+)? package=\S+@\S+ node=v\d+/, `websocksy must not run on the fallback engine: ${line}`);
          await server.waitForLog(/listening /);
          assert.doesNotMatch(server.log(), /engine JS fallback/, 'a native engine is not announced as the fallback too');
        }
      });
    } finally {
      await echo.close();
    }
  });
});

describe('echo through each transport', () => {
  const dir = tempDir();
  const peers: Peer[] = [];
  after(async () => {
    for (const peer of peers) await peer.close();
    dir.remove();
  });

  const transports: Array<[string, () => Promise<Peer>]> = [
    ['tcp', () => tcpEcho()],
    ['unix', () => unixEcho(`${dir.path}/stream.sock`)],
    ['udp', () => udpEcho()],
    ['unix-dgram', () => unixDgramEcho(`${dir.path}/dgram.sock`)],
  ];
  for (const [name, makePeer] of transports) {
    test(`${name}: each message comes back whole, text as text and binary as binary`, async () => {
      const peer = await makePeer();
      peers.push(peer);
      await withBridge(peer.address, ['-c', 'framing=auto'], async (server) => {
        const client = await connect(`${server.url}/echo`);
        client.ws.send('hello websocksy');
        const text = await client.next();
        assert.equal(text.data.toString(), 'hello websocksy');
        assert.equal(text.binary, false);
        const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80]);
        client.ws.send(bytes);
        const binary = await client.next();
        assert.deepEqual(binary.data, bytes);
        assert.equal(binary.binary, true);
        await closeClient(client);
        await server.waitForLog(/close id=1 .*by=client/);
        assert.match(server.log(), new RegExp(`open id=1 client=127\\.0\\.0\\.1 endpoint=/echo peer=${name}://`));
      });
    });
  }

  test('udp: one message is one datagram, in both directions', async () => {
    const peer = await udpEcho();
    peers.push(peer);
    await withBridge(peer.address, ['-c', 'framing=binary'], async (server) => {
      const client = await connect(server.url);
      const sizes = [1, 100, 1400, 9000];
      for (const size of sizes) client.ws.send(Buffer.alloc(size, size & 255));
      for (const size of sizes) {
        const message = await client.next();
        assert.equal(message.data.length, size);
      }
      await closeClient(client);
    });
  });

  test('unix-dgram: a peer that reads nothing for half a second gets all 200 datagrams, exact and in order (refused ones copied, queued and resent)', async () => {
    // The kernel holds 10 datagrams for a unix-dgram socket that is not read (max_dgram_qlen): the
    // rest are refused, and only those are copied out of the client's message to wait.
    const path = `${dir.path}/slow-dgram.sock`;
    const count = 200;
    const script = [
      'import socket, sys, time',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      `s.bind(${JSON.stringify(path)})`,
      'print("ready", flush=True)',
      'time.sleep(0.5)',
      's.settimeout(20)',
      `for _ in range(${count}):`,
      '    data, sender = s.recvfrom(65536)',
      '    s.sendto(data, sender)',
    ].join('\n');
    const python = spawn('/usr/bin/python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(python.stdout, 'data');
      await withBridge(`unix-dgram://${path}`, ['-c', 'framing=binary'], async (server) => {
        const client = await connect(server.url);
        const datagrams = Array.from({ length: count }, (_, i) => randomBytes(1 + ((i * 7919) % 8192)));
        for (const datagram of datagrams) client.ws.send(datagram);
        for (const [i, datagram] of datagrams.entries()) assert.ok((await client.next()).data.equals(datagram), `datagram ${i}`);
        await closeClient(client);
      });
    } finally {
      python.kill();
    }
  });

  test('udp: four clients, 400 datagrams of up to 16 KiB each, through shared slabs: each echoed whole', async () => {
    const peer = await udpEcho();
    peers.push(peer);
    await withBridge(peer.address, ['-c', 'framing=binary'], async (server) => {
      const clients = await Promise.all(Array.from({ length: 4 }, () => connect(server.url)));
      await Promise.all(
        clients.map(async (client, index) => {
          // 12 MiB in all: slabs fill and retire many times while other datagrams are in flight.
          const datagrams = Array.from({ length: 400 }, (_, i) => randomBytes(1 + ((i * 7919 + index * 104729) % 16_384)));
          const sent = datagrams.map((datagram) => createHash('sha256').update(datagram).digest('hex'));
          // Three in flight per client, 192 KiB at most in all: under the kernel's default socket
          // buffer (208 KiB), so the echo peer drops none.
          const echoed: string[] = [];
          for (let at = 0; at < datagrams.length; at += 3) {
            for (const datagram of datagrams.slice(at, at + 3)) client.ws.send(datagram);
            for (let n = at; n < Math.min(at + 3, datagrams.length); n++) echoed.push(createHash('sha256').update((await client.next()).data).digest('hex'));
          }
          assert.deepEqual(echoed.sort(), sent.sort(), `client ${index}`);
          await closeClient(client);
        }),
      );
    });
  });
});

describe('write batching', () => {
  test('many clients sending at once: every byte reaches its own peer, in order', async () => {
    const echo = await tcpEcho();
    try {
      await withBridge(echo.address, ['-c', 'framing=binary'], async (server) => {
        const clients = await Promise.all(Array.from({ length: 8 }, () => connect(server.url)));
        const results = await Promise.all(
          clients.map(async (client, index) => {
            // Sizes cross the shared slab's end and its own-buffer threshold (256 KiB).
            const sizes = Array.from({ length: 150 }, (_, i) => (i % 50 === 49 ? 300_000 : 1 + ((i * 7919 + index * 104729) % 40_000)));
            const sent = createHash('sha256');
            let total = 0;
            for (const size of sizes) {
              const message = randomBytes(size);
              sent.update(message);
              total += size;
              client.ws.send(message);
            }
            const received = createHash('sha256');
            let got = 0;
            while (got < total) {
              const { data } = await client.next(10_000);
              received.update(data);
              got += data.length;
            }
            await closeClient(client);
            return { sent: sent.digest('hex'), received: received.digest('hex'), got, total };
          }),
        );
        for (const { sent, received, got, total } of results) {
          assert.equal(got, total);
          assert.equal(received, sent);
        }
      });
    } finally {
      await echo.close();
    }
  });
});

describe('peer addresses', () => {
  test('a bare host:port is taken as tcp, with a warning', async () => {
    const echo = await tcpEcho();
    try {
      await withBridge(echo.address.replace('tcp://', ''), [], async (server) => {
        const client = await connect(server.url);
        client.ws.send('x');
        assert.equal((await client.next()).data.toString(), 'x');
        await closeClient(client);
        assert.match(server.log(), /warn .*no scheme, guessing tcp/);
      });
    } finally {
      await echo.close();
    }
  });

  test('an IPv6 literal in brackets works', async (t) => {
    const v6 = createServer((socket) => socket.pipe(socket));
    const listening = await new Promise<boolean>((resolve) => {
      v6.once('error', () => resolve(false));
      v6.listen(0, '::1', () => resolve(true));
    });
    if (!listening) {
      t.skip('no ::1 on this machine');
      return;
    }
    const port = (v6.address() as { port: number }).port;
    try {
      await withBridge(`tcp://[::1]:${port}`, [], async (server) => {
        const client = await connect(server.url);
        client.ws.send('six');
        assert.equal((await client.next()).data.toString(), 'six');
        await closeClient(client);
      });
    } finally {
      v6.close();
    }
  });
});

describe('framing on the wire', () => {
  test('newline framing turns a byte stream into one message per line', async () => {
    const echo = await tcpEcho();
    try {
      await withBridge(echo.address, ['-c', 'framing=newline', '-c', 'framing-config=lf'], async (server) => {
        const client = await connect(server.url);
        client.ws.send('one\ntw');
        assert.equal((await client.next()).data.toString(), 'one\n');
        client.ws.send('o\nthree\n');
        assert.equal((await client.next()).data.toString(), 'two\n');
        const third = await client.next();
        assert.equal(third.data.toString(), 'three\n');
        assert.equal(third.binary, false);
        await closeClient(client);
      });
    } finally {
      await echo.close();
    }
  });

  test('a peer message longer than frame-limit without a boundary closes with 1009', async () => {
    const echo = await tcpEcho();
    try {
      await withBridge(echo.address, ['--frame-limit', '4k', '-c', 'framing=newline', '-c', 'framing-config=lf'], async (server) => {
        const client = await connect(server.url);
        client.ws.send(Buffer.alloc(10_000, 0x61));
        const { code, reason } = await client.closed();
        assert.equal(code, 1009);
        assert.match(reason, /without a frame boundary/);
        await server.waitForLog(/close id=1 .*code=1009/);
      });
    } finally {
      await echo.close();
    }
  });
});

describe('peer failures', () => {
  test('a peer that closes ends the client with 1000 "Peer closed connection"', async () => {
    const peer = await streamServer((socket) => socket.end('bye'));
    try {
      await withBridge(peer.address, ['-c', 'framing=binary'], async (server) => {
        const client = await connect(server.url);
        assert.equal((await client.next()).data.toString(), 'bye');
        const { code, reason } = await client.closed();
        assert.equal(code, 1000);
        assert.equal(reason, 'Peer closed connection');
        await server.waitForLog(/close id=1 .*to_client=3 .*code=1000 .*by=websocksy/);
      });
    } finally {
      await peer.close();
    }
  });

  test('a peer that writes 20 MiB and closes: a slow client still gets every byte, then 1000', async () => {
    const total = 20 * 1024 * 1024;
    const block = randomBytes(64 * 1024);
    const peer = await streamServer((socket) => {
      for (let sent = 0; sent < total; sent += block.length) socket.write(block);
      socket.end();
    });
    try {
      // A client buffer above the total: all of it can sit in uWS's queue when the peer's EOF comes.
      await withBridge(peer.address, ['-c', 'framing=binary', '--client-buffer', '64m'], async (server) => {
        const client = await connect(server.url);
        const socket = socketUnder(client.ws);
        socket.pause();
        await new Promise((resolve) => setTimeout(resolve, 500));
        const hash = createHash('sha256');
        let bytes = 0;
        client.onMessage((data) => {
          bytes += data.length;
          hash.update(data);
        });
        socket.resume();
        const { code } = await client.closed(10_000);
        const expected = createHash('sha256');
        for (let sent = 0; sent < total; sent += block.length) expected.update(block);
        assert.equal(bytes, total);
        assert.equal(hash.digest('hex'), expected.digest('hex'));
        assert.equal(code, 1000);
        const line = await server.waitForLog(/close id=1 .*/);
        assert.match(line, new RegExp(`to_client=${total} `));
        assert.doesNotMatch(line, /undelivered/);
      });
    } finally {
      await peer.close();
    }
  });

  test('a peer that never closes its side is let go once the linger is over', async () => {
    // The peer keeps its side open after websocksy's FIN: the descriptor must not stay forever.
    const peer = await streamServer(() => undefined, undefined, { allowHalfOpen: true });
    try {
      await withBridge(peer.address, [], async (server) => {
        const fds = (): number => openDescriptors(server.process.pid as number);
        const before = fds();
        const client = await connect(server.url);
        client.ws.send('hello');
        await closeClient(client);
        await server.waitForLog(/close id=1 .*to_peer=5 /);
        const deadline = Date.now() + 8000;
        while (fds() > before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(fds(), before);
      });
    } finally {
      await peer.close();
    }
  });

  test('a peer that resets ends the client with 1011 and says why', async () => {
    const peer = await streamServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    try {
      await withBridge(peer.address, [], async (server) => {
        const client = await connect(server.url);
        client.ws.send('trigger');
        const { code, reason } = await client.closed();
        assert.equal(code, 1011);
        assert.match(reason, /Peer connection failed: ECONNRESET/);
      });
    } finally {
      await peer.close();
    }
  });

  test('a peer that stops reading is cut off with 1013 before memory grows', async () => {
    const peer = await streamServer((socket) => socket.pause());
    try {
      await withBridge(peer.address, ['--peer-buffer', '1m', '--max-message', '1m'], async (server) => {
        const client = await connect(server.url);
        // Loopback socket buffers take a few MiB before the peer's queue in websocksy grows.
        await sendWhileOpen(client, Buffer.alloc(512 * 1024, 1), 128);
        const { code, reason } = await client.closed(10_000);
        assert.equal(code, 1013);
        assert.match(reason, /peer is not reading/);
      });
    } finally {
      await peer.close();
    }
  });

  test('a client message over max-message closes with 1009', async () => {
    const echo = await tcpEcho();
    try {
      await withBridge(echo.address, ['--max-message', '1k'], async (server) => {
        const client = await connect(server.url);
        client.ws.send(Buffer.alloc(2048));
        const { code } = await client.closed();
        assert.equal(code, 1009);
      });
    } finally {
      await echo.close();
    }
  });
});

describe('keep-alive', () => {
  let echo: Peer;
  before(async () => {
    echo = await tcpEcho();
  });
  after(async () => {
    await echo.close();
  });

  // A ping every half second: the silent client below is dropped about two intervals after it
  // connects, and the answering one is still connected after three and a half.
  test('a client that answers pings stays connected', async () => {
    await withBridge(echo.address, ['-k', '0.5'], async (server) => {
      const client = await connect(server.url);
      let pings = 0;
      client.ws.on('ping', () => pings++);
      await new Promise((resolve) => setTimeout(resolve, 1750));
      assert.ok(pings >= 1, `expected pings, got ${pings}`);
      client.ws.send('still here');
      assert.equal((await client.next()).data.toString(), 'still here');
      await closeClient(client);
    });
  });

  test('a client that keeps sending is pinged too: websocksy sends something each interval', async () => {
    // websocksy once pinged only clients it had not heard from: one that sent every 100 ms to a
    // peer that never answered heard nothing back at all, which a proxy that times the other
    // direction would take for a dead connection.
    const sink = await streamServer((socket) => socket.resume());
    try {
      await withBridge(sink.address, ['-k', '0.5'], async (server) => {
        const client = await connect(server.url);
        let pings = 0;
        client.ws.on('ping', () => pings++);
        for (let i = 0; i < 15; i++) {
          client.ws.send(`tick ${i}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.ok(pings >= 1, `expected pings, got ${pings}`);
        await closeClient(client);
      });
    } finally {
      await sink.close();
    }
  });

  test('a client that never answers a ping is dropped', async () => {
    await withBridge(echo.address, ['-k', '0.5'], async (server) => {
      const client = await connect(server.url);
      // Stop the ws client from answering pings: take its socket out of flowing mode.
      socketUnder(client.ws).pause();
      await server.waitForLog(/close id=1 .*code=1006 .*no answer to ping/, 8000);
      client.ws.terminate();
    });
  });
});
