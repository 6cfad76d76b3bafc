/*
 * HTTP answers while the process drains (SIGTERM, docs/operations.md): which responses are
 * still being answered, so that the drain waits for them, and the `Connection: close` every
 * head carries from then on. uWS's listen socket is closed at once, but a keep-alive
 * connection (a load balancer's pooled one) would go on sending requests to this process
 * until it exits; told to close, the client takes its next request to a new connection, which
 * the load balancer sends to another instance. uWS 20.30 does not close a connection whose
 * response says so, and a response may not be touched once ended, so the client closes it
 * (RFC 9112 §9.6 requires it to); the drain's deadline covers one that does not.
 * Process-wide, as the drain is: every listener's responses count.
 */

/**
 * A count, not a set of the responses: a long-lived Set that every response passes through kept
 * each request's objects alive past the young-generation GC that should have freed them (2.4 MB
 * promoted per scavenge at 30 k req/s, a third of the CPU per request; bench/README.md).
 */
let open = 0;
let draining = false;

export const responseDrain = {
  /** Responses begun and neither ended nor aborted. */
  get open(): number {
    return open;
  },

  get draining(): boolean {
    return draining;
  },

  /** From now on every head says `Connection: close`. */
  start(): void {
    draining = true;
  },

  /** A response is being answered (once per response until `answered`). */
  answering(): void {
    open++;
  },

  /** That response ended or was aborted. */
  answered(): void {
    open--;
  },
};
