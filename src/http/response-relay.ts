/*
 * The upstream's response on its way to the client: status, headers (hop-by-hop ones dropped,
 * Content-Length and Date left to uWS) and body, streamed with the client's backpressure.
 * Header values go to uWS as the upstream's bytes (node:http hands them over as latin1 text).
 */
import type { IncomingMessage } from 'node:http';
import type { ClientResponse } from './client-response.js';
import { clientResponseHeaders } from './forward-headers.js';

const NO_BODY_STATUS = new Set([204, 304]);

export function relayResponse(answer: ClientResponse, method: string, response: IncomingMessage, done: (error: Error | null) => void): void {
  const status = response.statusCode ?? 502;
  const head = `${status} ${response.statusMessage ?? ''}`.trim();
  const { headers, contentLength: length } = clientResponseHeaders(response.rawHeaders);
  if (method === 'HEAD' || NO_BODY_STATUS.has(status)) {
    answer.res.cork(() => {
      answer.writeHead(head, headers);
      answer.endWithoutBody(method === 'HEAD' ? length : null);
    });
    response.resume();
    done(null);
    return;
  }
  // The head waits for the body's first chunk, so that a small response is one send.
  answer.holdHead(head, headers);
  answer.sendBody(response, length, done);
}
