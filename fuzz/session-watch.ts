/*
 * The resumable sessions the server holds, read from its log: `session open` adds one and
 * `session close` ends it (a session whose client left before the 101 closes without having
 * opened, and is ignored). A quiet period waits for them to end before descriptors are
 * counted, because a session outlives its connections by design: a detached one for its grace,
 * one polled over HTTP for 10 s after its last poll (docs/sessions.md), plus its peer's linger.
 * One still open after that is a session that never ends.
 */
import { delay } from './raw-connection.js';
import type { ServerProcess } from './server-process.js';

/** The longest a session may outlive its client: the HTTP poller's 10 s, the grace, the peer's 5 s linger, a margin. */
export const SESSION_SETTLE_MS = 20_000;

export class LiveSessions {
  private readonly open = new Set<string>();
  /** The most held at once. */
  peak = 0;

  constructor(server: ServerProcess) {
    server.onLine((line) => {
      const match = / info +session (open|close) .*?\bsession=([\w-]{16})\b/.exec(line);
      if (match === null) return;
      const [, what, id = ''] = match;
      if (what === 'open') {
        this.open.add(id);
        this.peak = Math.max(this.peak, this.open.size);
      } else this.open.delete(id);
    });
  }

  get size(): number {
    return this.open.size;
  }

  /** Waits until no session is left or `timeoutMs` passes; returns the ids still open. */
  async settled(timeoutMs: number): Promise<string[]> {
    const until = Date.now() + timeoutMs;
    while (this.open.size > 0 && Date.now() < until) await delay(50);
    return [...this.open];
  }
}
