/*
 * The client's side of the tunnel protocol (docs/tunnel-protocol.md) spoken over a raw
 * WebSocket, with nothing checked on the way out: any frame type, any stream id, any body.
 * What the server sends back is counted by frame type, and its control messages (welcome,
 * refuse, listen-ok…) are kept for the case to wait on.
 */
import { FrameType } from '../src/tunnel/protocol.js';
import type { RawConnection } from './raw-connection.js';
import type { Random } from '../test/helpers/random.js';
import { encodeFrame, Opcode, type ServerFrame } from './ws-frame.js';

const TYPE_NAMES: Readonly<Record<number, string>> = {
  [FrameType.data]: 'data', [FrameType.credit]: 'credit', [FrameType.fin]: 'fin', [FrameType.reset]: 'reset', [FrameType.open]: 'open',
  [FrameType.accept]: 'accept', [FrameType.reject]: 'reject', [FrameType.ping]: 'ping', [FrameType.pong]: 'pong', [FrameType.control]: 'control',
};

/** One tunnel frame: type, stream id (any 32 bits), body. */
export function tunnelFrame(type: number, stream: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const frame = Buffer.alloc(5 + payload.length);
  frame[0] = type & 0xff;
  frame.writeUInt32BE(stream >>> 0, 1);
  payload.copy(frame, 5);
  return frame;
}

export function controlFrame(message: unknown): Buffer {
  return tunnelFrame(FrameType.control, 0, JSON.stringify(message));
}

export interface ControlSeen {
  readonly type: string;
  readonly message: Record<string, unknown>;
}

export class TunnelConversation {
  readonly controls: ControlSeen[] = [];
  /** Server frames by type name (`accept`, `reject`, `control:listen-ok`…). */
  readonly counts: Record<string, number> = {};
  /** Streams the server accepted. */
  readonly accepted = new Set<number>();
  private partial: Buffer[] = [];

  constructor(
    readonly ws: RawConnection,
    private readonly random: Random,
  ) {
    ws.onFrame = (frame) => this.onFrame(frame);
  }

  /** Sends `payload` as one masked WebSocket message (binary unless told otherwise). */
  send(payload: Buffer, opcode: number = Opcode.binary): void {
    this.ws.send(encodeFrame({ fin: true, rsv: 0, opcode, mask: this.random.bytes(4), payload, encoding: null }));
  }

  /** Waits for the first control message of one of `types`; null if none came in time. */
  async waitForControl(types: readonly string[], timeoutMs: number): Promise<ControlSeen | null> {
    const find = (): ControlSeen | undefined => this.controls.find((control) => types.includes(control.type));
    await this.ws.waitFor(() => find() !== undefined, timeoutMs);
    return find() ?? null;
  }

  private onFrame(frame: ServerFrame): void {
    if (frame.opcode !== Opcode.binary && frame.opcode !== Opcode.continuation) return;
    this.partial.push(frame.payload);
    if (!frame.fin) return;
    const message = Buffer.concat(this.partial);
    this.partial = [];
    if (message.length < 5) {
      this.count('short frame');
      return;
    }
    const type = message[0] as number;
    if (type === FrameType.accept) this.accepted.add(message.readUInt32BE(1));
    if (type !== FrameType.control) {
      this.count(TYPE_NAMES[type] ?? `type ${type}`);
      return;
    }
    try {
      const decoded = JSON.parse(message.subarray(5).toString('utf8')) as Record<string, unknown>;
      const kind = typeof decoded['type'] === 'string' ? decoded['type'] : '?';
      this.controls.push({ type: kind, message: decoded });
      this.count(`control ${kind}`);
    } catch {
      this.count('control (not JSON)');
    }
  }

  private count(name: string): void {
    this.counts[name] = (this.counts[name] ?? 0) + 1;
  }
}
