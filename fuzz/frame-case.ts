/*
 * Frames after a good handshake: one to five picks from the frame menu (frame-menu.ts), sent
 * in pieces, to the bridge (also under /api, whose upgrades are the bridge's), the /chat relay
 * or the tunnel path before its hello. The answer is how the WebSocket ended: a close code, an
 * empty close frame, a close without one, or still open when the fuzzer stopped waiting.
 */
import type { Random } from '../test/helpers/random.js';
import { wsEnding } from './answer.js';
import { closeCleanly, showBytes, wsPath, type FuzzCase } from './fuzz-case.js';
import { menuFrames } from './frame-menu.js';
import { RawConnection } from './raw-connection.js';
import type { TargetName } from './target-paths.js';
import { Opcode } from './ws-frame.js';

export function frameCase(random: Random): FuzzCase {
  const target = random.pick<TargetName>(['bridge', 'bridge', 'chat', 'chat', 'tunnel', 'api']);
  const { path, protocol } = wsPath(target, random);
  const picks = Array.from({ length: random.int(1, 5) }, () => menuFrames(random));
  const bytes = Buffer.concat(picks.map((pick) => pick.bytes));
  return {
    kind: 'frames',
    target,
    input: `${path} | ${picks.map((pick) => pick.name).join(' ')} | ${showBytes(bytes, 200)}`,
    run: async (scope) => {
      const ws = await scope.upgrade(path, protocol);
      if (!(ws instanceof RawConnection)) return ws;
      await ws.sendInPieces(bytes, scope.random);
      // Long enough for a megabyte to be read and echoed on a busy machine.
      await ws.waitForEnd(600 + bytes.length / 500);
      const answer = wsEnding(ws);
      const extras = { 'data came back': ws.dataBytes > 0 ? 1 : 0, 'pong came back': ws.frames.some((frame) => frame.opcode === Opcode.pong) ? 1 : 0 };
      await closeCleanly(ws);
      return { answer, extras };
    },
  };
}
