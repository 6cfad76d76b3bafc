/*
 * The answers of the control endpoints, the status JSON, the status page and the Prometheus
 * metrics: a whole document (by default one no cache may keep), its length alone for a HEAD. The metrics are made
 * asynchronously (prom-client's collectors), so they are sent once made, if the client stayed.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientRequest } from '../core/request.js';
import { ClientResponse } from '../http/client-response.js';
import { guarded, reportFault } from '../lib/guard.js';

/** The metrics at `path` of the status listener (src/metrics/server-metrics.ts makes them). */
export interface MetricsPage {
  readonly path: string;
  readonly contentType: string;
  exposition(): Promise<string>;
}

const NOT_STORED: Readonly<Record<string, string>> = { 'Cache-Control': 'no-store' };

/** Sends `body` as the whole answer to `request` (call corked); `headers` replace the default `Cache-Control: no-store`. */
export function sendDocument(res: HttpResponse, request: ClientRequest, contentType: string, body: Buffer, headers = NOT_STORED, status = '200 OK'): void {
  res.writeStatus(status).writeHeader('Content-Type', contentType);
  for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
  if (request.method === 'HEAD') res.writeHeader('Content-Length', String(body.length)).endWithoutBody();
  else res.end(body);
}

export function serveMetrics(res: HttpResponse, request: ClientRequest, page: MetricsPage): void {
  // Answering through a ClientResponse: it notices a client that leaves while the metrics are made.
  const response = ClientResponse.answering(res, request);
  page.exposition().then(
    guarded(response, 'metrics', (text: string) => {
      if (!response.usable) return;
      response.ended = true;
      res.cork(() => sendDocument(res, request, page.contentType, Buffer.from(text)));
    }),
    (error: unknown) => reportFault(response, 'metrics', error),
  );
}
