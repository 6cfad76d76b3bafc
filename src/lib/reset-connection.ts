/*
 * Ends a connection abruptly, so that its peer sees a TCP reset where one can still be sent.
 *
 * net.Socket.resetAndDestroy() asks libuv for a close with SO_LINGER 0. libuv refuses (EINVAL)
 * while a shutdown it was asked for is under way, that is between end() and 'finish', and Node
 * (20, 22 and 24 alike) then emits the error and drops the handle without closing it: the
 * descriptor stays open, in no socket table, for the life of the process. A tunnel stream whose
 * client sent its FIN and then a RESET in one breath cost the server a descriptor that way
 * (fuzz/README.md, "What it found"). In that window the socket is destroyed instead: its FIN is
 * already on the way, and the kernel answers the peer's next segment, or bytes left unread
 * here, with a reset. Anything that is not a net.Socket (an in-process pipe end) keeps its own
 * resetAndDestroy().
 */
import { Socket } from 'node:net';

/** What this needs of a connection: net.Socket, or an in-process pipe end (lib/pipe.ts). */
export interface ResettableConnection {
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  destroy(): unknown;
  resetAndDestroy(): unknown;
}

export function resetConnection(connection: ResettableConnection): void {
  if (connection instanceof Socket && connection.writableEnded && !connection.writableFinished) connection.destroy();
  else connection.resetAndDestroy();
}
