/*
 * What the server answered on one connection, in a few words, so that answers can be counted:
 * an HTTP status, or after a 101 how the WebSocket ended (a close code, an empty close frame,
 * a close without any close frame), or nothing at all (a silent close, which uWS 20.30 gives
 * some requests only after holding them ~10 s).
 */
import type { RawConnection } from './raw-connection.js';

/** A server that held a request at least this long before closing is counted apart. */
const HELD_MS = 5000;

/** How the WebSocket after a 101 ended, as far as the server is concerned. */
export function wsEnding(connection: RawConnection): string {
  const close = connection.closeFrame;
  if (close !== undefined) return close.payload.length >= 2 ? `close ${close.payload.readUInt16BE(0)}` : 'close (empty)';
  if (connection.malformedFrames !== null) return 'malformed frames';
  if (connection.serverEnd !== null) return connection.serverEnd.how === 'reset' ? 'reset' : 'silent close';
  return 'left open';
}

export function answerOf(connection: RawConnection): string {
  const { head, serverEnd } = connection;
  if (head === null) {
    if (serverEnd === null) return 'no answer (cut by fuzzer)';
    const held = serverEnd.afterMs >= HELD_MS ? ` after ≥${HELD_MS / 1000} s` : '';
    return `${serverEnd.how === 'reset' ? 'reset' : 'silent close'}${held}`;
  }
  if (head.status === 0) return 'not HTTP';
  if (head.status !== 101) return `http ${head.status}`;
  return `101, ${wsEnding(connection)}`;
}
