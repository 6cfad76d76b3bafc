/*
 * Clients that stop reading: a bridged or relayed WebSocket that sends megabytes for the echo
 * to return and reads none of it, an /api download nobody reads, a tunnel stream whose data
 * the client neither reads nor credits. After holding still for a second or three the client
 * reads again (the answer is how the WebSocket ended: 1013 when the server gave up on it) or,
 * for the download and the tunnel, cuts.
 */
import { FrameType } from '../src/tunnel/protocol.js';
import type { Random } from '../test/helpers/random.js';
import { answerOf, wsEnding } from './answer.js';
import { closeCleanly, wsPath, type FuzzCase } from './fuzz-case.js';
import { delay, RawConnection } from './raw-connection.js';
import { PREFIX, type TargetName } from './target-paths.js';
import { tunnelFrame } from './tunnel-conversation.js';
import { hello } from './tunnel-script.js';
import { clientFrame, Opcode } from './ws-frame.js';

const MIB = 1024 * 1024;

export function stalledCase(random: Random): FuzzCase {
  const target = random.pick<TargetName>(['bridge', 'chat', 'api', 'tunnel']);
  const holdMs = random.int(1000, 3000);
  const total = random.pick([2, 4, 8]) * MIB;
  const messageSize = random.pick([16 * 1024, 64 * 1024]);
  const input = `${target}: ${target === 'api' ? `download ${total * 8} bytes` : `send ${total} bytes in ${messageSize}-byte messages`}, read nothing for ${holdMs} ms`;
  return {
    kind: 'stalled',
    target,
    input,
    run: async (scope) => {
      if (target === 'api') {
        const connection = await scope.connect();
        connection.send(`GET ${PREFIX.api}/download?bytes=${total * 8} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        await connection.waitForHead(5000);
        connection.stopReading();
        await delay(holdMs);
        const answer = `${answerOf(connection)}, cut while stalled`;
        connection.cut('reset');
        return { answer };
      }
      const { path, protocol } = wsPath(target, scope.random);
      const ws = await scope.upgrade(path, protocol);
      if (!(ws instanceof RawConnection)) return ws;
      ws.stopReading();
      if (target === 'tunnel') {
        // Within one window: the server takes it all, the echo returns it, nobody credits it.
        ws.send(clientFrame(Opcode.binary, hello(scope.targets.identity)));
        ws.send(clientFrame(Opcode.binary, tunnelFrame(FrameType.open, 1, JSON.stringify({ host: '127.0.0.1', port: scope.targets.echoPort }))));
        for (let sent = 0; sent < 192 * 1024; sent += 64 * 1024) ws.send(clientFrame(Opcode.binary, tunnelFrame(FrameType.data, 1, Buffer.alloc(64 * 1024, 0x73))));
        await delay(holdMs);
        ws.cut('reset');
        return { answer: 'cut while stalled' };
      }
      const message = clientFrame(Opcode.binary, Buffer.alloc(messageSize, 0x73));
      for (let sent = 0; sent < total; sent += messageSize) ws.send(message);
      await delay(holdMs);
      ws.resumeReading();
      await ws.waitForEnd(2000);
      const answer = `after reading again: ${wsEnding(ws)}`;
      await closeCleanly(ws);
      return { answer, extras: { 'MiB echoed': Math.round(ws.dataBytes / MIB) } };
    },
  };
}
