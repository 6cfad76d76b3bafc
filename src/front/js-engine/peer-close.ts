/*
 * uWS calls the close handler as soon as the client's close frame arrives; `ws` emits 'close'
 * only once the TCP connection has ended too, which a client that keeps it open after its close
 * frame delays by up to 30 s (ws's close timeout) — and with it a tunnel's detach, a session's
 * suspension, the release of the connection's place under the caps. `ws` answers a close frame
 * by calling the socket's close() with the frame's code and reason, after marking the frame
 * received: this subclass reports that moment as 'peer-close' (before the answer goes out).
 * It reads three of ws 8's fields, pinned with the exact version in package.json.
 */
import { WebSocket } from 'ws';

interface CloseState {
  readonly _closeFrameReceived: boolean;
  readonly _closeCode: number;
  readonly _closeMessage: Buffer;
}

export const PEER_CLOSE = 'peer-close';

export class PeerCloseWebSocket extends WebSocket {
  private peerCloseReported = false;

  override close(code?: number, data?: string | Buffer): void {
    const state = this as unknown as CloseState;
    if (state._closeFrameReceived && !this.peerCloseReported) {
      this.peerCloseReported = true;
      this.emit(PEER_CLOSE, state._closeCode, state._closeMessage);
    }
    super.close(code, data);
  }
}
