/*
 * The upstream's response on its way to the client: status, headers (hop-by-hop ones dropped,
 * Content-Length and Date left to uWS) and body, streamed with the client's backpressure.
 * Header values go to uWS as the upstream's bytes (latin1 text, one character per byte).
 */
import type { BodySink, ClientResponse } from './client-response.js';
import { clientResponseHeaders } from './forward-headers.js';

const NO_BODY_STATUS = new Set([204, 304]);

/** What relayHead needs of the upstream's response head. */
export interface UpstreamHead {
  readonly status: number;
  readonly statusText: string;
  /** Name, value, name, value…, as latin1 text. */
  readonly rawHeaders: readonly string[];
}

/**
 * Sends the head, and returns where the body goes (null when the response has none: the
 * answer is then complete, and whatever body the upstream sends anyway is dropped).
 * `resume` and `stop` are the body source's, as ClientResponse.openBody describes.
 */
export function relayHead(answer: ClientResponse, method: string, upstream: UpstreamHead, done: (error: Error | null) => void, resume: () => void, stop: () => void): BodySink | null {
  const head = `${upstream.status} ${upstream.statusText}`.trim();
  const { headers, contentLength: length } = clientResponseHeaders(upstream.rawHeaders);
  if (method === 'HEAD' || NO_BODY_STATUS.has(upstream.status)) {
    answer.res.cork(() => {
      answer.writeHead(head, headers);
      answer.endWithoutBody(method === 'HEAD' ? length : null);
    });
    done(null);
    return null;
  }
  // The head waits for the body's first chunk, so that a small response is one send.
  answer.holdHead(head, headers);
  return answer.openBody(length, done, resume, stop);
}
