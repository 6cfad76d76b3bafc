/*
 * A fuzz case: one class of attack against one target, its input drawn from a seeded generator
 * before it runs (so a seed names the input exactly), and a run that says what the server
 * answered. Cases open their connections through a CaseScope, which cuts whatever is still open
 * when the case ends, so no case can leave a connection behind.
 */
import { answerOf } from './answer.js';
import { RawConnection } from './raw-connection.js';
import { render, segment, upgradeDraft } from './request-draft.js';
import type { Random } from '../test/helpers/random.js';
import type { Targets } from './targets.js';
import { PREFIX, type TargetName } from './target-paths.js';
import { TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import { SESSION_SUBPROTOCOL } from '../src/session/records.js';
import { closePayload, clientFrame, Opcode } from './ws-frame.js';

/** A good handshake is answered at once; one that is not is itself the answer. */
const UPGRADE_WAIT_MS = 5000;

export type CaseClass = 'handshake' | 'frames' | 'tunnel' | 'disconnect' | 'stalled' | 'session' | 'upstream' | 'wsupstream';
export const CASE_CLASSES: readonly CaseClass[] = ['handshake', 'frames', 'tunnel', 'disconnect', 'stalled', 'session', 'upstream', 'wsupstream'];

export interface CaseOutcome {
  /** What the server answered, in a few words: `http 400`, `101, close 1002`, `silent close`. */
  readonly answer: string;
  /** Things worth counting beside the answer (`echoed`, `tunnel accept`…), summed per class. */
  readonly extras?: Readonly<Record<string, number>>;
}

export interface FuzzCase {
  readonly kind: CaseClass;
  readonly target: TargetName;
  /** The input as sent, printable and bounded: enough to rebuild it by hand. */
  readonly input: string;
  run(scope: CaseScope): Promise<CaseOutcome>;
}

export class CaseScope {
  private readonly connections: RawConnection[] = [];

  constructor(
    readonly targets: Targets,
    /** The case's own generator, continued from where its input was drawn. */
    readonly random: Random,
  ) {}

  /** `keepBytes`: the largest data frame whose payload the connection keeps (RawConnection.connect). */
  async connect(keepBytes?: number): Promise<RawConnection> {
    const connection = await RawConnection.connect(this.targets.port, undefined, keepBytes);
    this.connections.push(connection);
    return connection;
  }

  /**
   * Opens a WebSocket on `path` with a good handshake; when the server does not answer 101,
   * the outcome says what it did instead.
   */
  async upgrade(path: string, protocol: string | null = null): Promise<RawConnection | CaseOutcome> {
    const connection = await this.connect();
    connection.send(render(upgradeDraft(path, this.random, protocol)));
    await connection.waitForHead(UPGRADE_WAIT_MS);
    return connection.head?.status === 101 ? connection : { answer: `handshake refused: ${answerOf(connection)}` };
  }

  /** Cuts every connection the case left open. */
  finish(): void {
    for (const connection of this.connections) if (!connection.closed) connection.cut('reset');
  }
}

/** A WebSocket path on `target` and the subprotocol it needs. */
export function wsPath(target: TargetName, random: Random): { path: string; protocol: string | null } {
  if (target === 'tunnel') return { path: PREFIX.tunnel, protocol: TUNNEL_SUBPROTOCOL };
  if (target === 'session') return { path: PREFIX.session, protocol: SESSION_SUBPROTOCOL };
  if (target === 'bridge') return { path: `/${segment(random)}`, protocol: null };
  return { path: `${PREFIX[target]}/${segment(random)}`, protocol: null };
}

/** Sends a clean close (1000) on a WebSocket still open and gives the server a moment to answer. */
export async function closeCleanly(connection: RawConnection): Promise<void> {
  if (connection.closed) return;
  connection.send(clientFrame(Opcode.close, closePayload(1000)));
  await connection.waitForEnd(300);
}

/** Bytes shown in a case's input: printable ASCII as is, the rest escaped; long inputs cut. */
export function showBytes(data: Buffer | string, max = 400): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const shown = bytes.subarray(0, max);
  let text = '';
  for (const byte of shown) {
    if (byte === 0x5c) text += '\\\\';
    else if (byte === 0x0d) text += '\\r';
    else if (byte === 0x0a) text += '\\n';
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return bytes.length > max ? `${text}…(${bytes.length} bytes in all)` : text;
}
