/*
 * The neighbour every fuzz case must leave alone: one bridged WebSocket (the `ws` client)
 * that sends 16 numbered bytes every 100 ms and checks that the echo comes back whole and in
 * order, and an HTTP GET on /api every 100 ms over a keep-alive connection. It fails the moment
 * the WebSocket closes, an echo is wrong, a request fails or answers other than 200, or
 * anything waits longer than STALL_MS; it records every latency.
 */
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import { errorMessage } from '../src/lib/errors.js';
import { PREFIX } from './target-paths.js';

const INTERVAL_MS = 100;
/** An echo or answer later than this means the server stopped serving its neighbours. */
const STALL_MS = 5000;
const MESSAGE_BYTES = 16;

export class HealthClient {
  failure: string | null = null;
  /** Called once, at the first failure (the run notes which cases were in flight). */
  onFailure: (() => void) | null = null;
  readonly wsLatencies: number[] = [];
  readonly httpLatencies: number[] = [];
  private readonly sent: Array<{ at: number; bytes: Buffer }> = [];
  private received = Buffer.alloc(0);
  private sequence = 0;
  private httpStartedAt: number | null = null;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  private constructor(
    private readonly ws: WebSocket,
    private readonly port: number,
  ) {
    ws.on('message', (data: Buffer) => this.onEcho(data));
    ws.on('close', (code: number, reason: Buffer) => this.fail(`the bridged WebSocket closed (${code} ${reason.toString()})`));
    ws.on('error', (error) => this.fail(`the bridged WebSocket failed: ${errorMessage(error)}`));
    this.timer = setInterval(() => this.tick(), INTERVAL_MS);
  }

  static async start(port: number): Promise<HealthClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/health`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new HealthClient(ws, port);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.ws.removeAllListeners('close');
    this.ws.close();
    this.agent.destroy();
  }

  private fail(why: string): void {
    if (this.stopped || this.failure !== null) return;
    this.failure = `${new Date().toISOString()} ${why}`;
    this.onFailure?.();
  }

  private tick(): void {
    const now = Date.now();
    const oldest = this.sent[0];
    if (oldest !== undefined && now - oldest.at > STALL_MS) this.fail(`no echo for ${now - oldest.at} ms`);
    if (this.httpStartedAt !== null && now - this.httpStartedAt > STALL_MS) this.fail(`no answer on ${PREFIX.api} for ${now - this.httpStartedAt} ms`);
    if (this.failure !== null) return;
    const bytes = Buffer.alloc(MESSAGE_BYTES, this.sequence & 0xff);
    bytes.writeUInt32BE(this.sequence++, 0);
    this.sent.push({ at: now, bytes });
    this.ws.send(bytes);
    if (this.httpStartedAt === null) this.get();
  }

  /** The bridge's binary framing may split or join echoes: match them by bytes, in order. */
  private onEcho(data: Buffer): void {
    this.received = Buffer.concat([this.received, data]);
    for (let next = this.sent[0]; next !== undefined && this.received.length >= MESSAGE_BYTES; next = this.sent[0]) {
      if (!this.received.subarray(0, MESSAGE_BYTES).equals(next.bytes)) {
        this.fail(`echo ${next.bytes.readUInt32BE(0)} came back as ${this.received.subarray(0, MESSAGE_BYTES).toString('hex')}`);
        return;
      }
      this.wsLatencies.push(Date.now() - next.at);
      this.sent.shift();
      this.received = this.received.subarray(MESSAGE_BYTES);
    }
    if (this.received.length > 0 && this.sent.length === 0) this.fail(`${this.received.length} bytes came back that were never sent`);
  }

  private get(): void {
    const startedAt = Date.now();
    this.httpStartedAt = startedAt;
    const req = request({ host: '127.0.0.1', port: this.port, path: `${PREFIX.api}/health`, agent: this.agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) this.fail(`GET ${PREFIX.api}/health answered ${res.statusCode ?? '?'}`);
        this.httpLatencies.push(Date.now() - startedAt);
        this.httpStartedAt = null;
      });
    });
    req.on('error', (error) => this.fail(`GET ${PREFIX.api}/health failed: ${errorMessage(error)}`));
    req.end();
  }
}
