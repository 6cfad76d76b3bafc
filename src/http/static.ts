/*
 * A folder served on a route (`static = DIR`) the way a web server serves one: GET and HEAD,
 * dotfiles hidden, a folder named without its trailing slash redirected to it (so the relative
 * links of its index.html resolve), validators with conditional requests (304), one byte range
 * (206/416), Cache-Control, and bodies streamed from the open file with uWS's backpressure.
 * HEAD answers exactly what GET would, range included, without the body.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { addressFields, type ClientRequest } from '../core/request.js';
import { errorMessage } from '../lib/errors.js';
import { guarded } from '../lib/guard.js';
import { log, type LogFields } from '../lib/log.js';
import { rangeAnswer } from './byte-range.js';
import { ClientResponse } from './client-response.js';
import { notModified, rangeStillValid } from './conditional.js';
import { sendFileBody } from './file-body.js';
import { mediaTypeOf } from './media-types.js';
import { restOf, type Route, type RouteTarget } from './route-table.js';
import { openStatic, type StaticFile, type StaticLookup } from './static-file.js';
import { hidden, staticNames } from './static-path.js';

type StaticTarget = Extract<RouteTarget, { kind: 'static' }>;

function headerValues(request: ClientRequest, name: string): string[] {
  return request.headers.filter((header) => header.name === name).map((header) => header.value);
}

/**
 * uWS decodes a request line's raw UTF-8 into the path (`/café`; bad bytes become U+FFFD, so
 * no lone surrogate reaches encodeURIComponent): escaped again, it is a URI for the Location
 * header (`/caf%C3%A9`). The rest of a normalised path is printable ASCII already.
 */
function asUri(path: string): string {
  return path.replace(/[^\x00-\x7f]+/g, (text) => encodeURIComponent(text));
}

function closeFile(file: StaticFile, fields: LogFields): void {
  file.handle.close().catch((error: unknown) => log.warn('static file close failed', { ...fields, why: errorMessage(error) }));
}

/** Answers from an open file; the handle is closed here or once its body is sent (file-body.ts). */
function respond(answer: ClientResponse, request: ClientRequest, file: StaticFile, target: StaticTarget, fields: LogFields): void {
  const { res } = answer;
  const { size, validators } = file;
  const cache: Array<[string, string]> = [
    ['ETag', validators.etag],
    ['Last-Modified', validators.lastModified],
    ['Cache-Control', target.maxAge === null ? 'no-cache' : `public, max-age=${target.maxAge}`],
  ];
  if (notModified(headerValues(request, 'if-none-match'), headerValues(request, 'if-modified-since'), validators)) {
    closeFile(file, fields);
    res.cork(() => {
      answer.writeHead('304 Not Modified', cache);
      answer.endWithoutBody(null);
    });
    return;
  }
  const whole = { kind: 'whole' } as const;
  const range = rangeStillValid(headerValues(request, 'if-range'), validators) ? rangeAnswer(headerValues(request, 'range'), size) : whole;
  if (range.kind === 'unsatisfiable') {
    closeFile(file, fields);
    answer.fail('416 Range Not Satisfiable', 'Range not satisfiable', { 'Content-Range': `bytes */${size}`, ...Object.fromEntries(cache) });
    return;
  }
  const [first, last] = range.kind === 'part' ? [range.first, range.last] : [0, size - 1];
  const headers: Array<[string, string]> = [['Content-Type', mediaTypeOf(file.path)], ['Accept-Ranges', 'bytes'], ...cache];
  if (range.kind === 'part') headers.push(['Content-Range', `bytes ${first}-${last}/${size}`]);
  const status = range.kind === 'part' ? '206 Partial Content' : '200 OK';
  const length = last - first + 1;
  if (request.method === 'HEAD') {
    closeFile(file, fields);
    res.cork(() => {
      answer.writeHead(status, headers);
      answer.endWithoutBody(length);
    });
    return;
  }
  res.cork(() => answer.writeHead(status, headers));
  sendFileBody(answer, file.handle, first, length, fields, (error) => {
    if (error !== null) log.warn('static response cut', { ...fields, why: errorMessage(error) });
  });
}

export function serveStatic(res: HttpResponse, request: ClientRequest, route: Route, target: StaticTarget): void {
  const answer = ClientResponse.answering(res, request);
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    answer.fail('405 Method Not Allowed', 'Method not allowed', { Allow: 'GET, HEAD' });
    return;
  }
  const fields = { id: request.id, route: route.prefix, path: request.path, ...addressFields(request) };
  const path = staticNames(restOf(route, request.path));
  if (path.kind === 'refused') {
    log.warn('static path refused', { ...fields, why: path.why });
    answer.fail('404 Not Found', 'Not found');
    return;
  }
  if (hidden(path.names)) {
    log.debug('static hidden', { ...fields, why: 'a name begins with a dot' });
    answer.fail('404 Not Found', 'Not found');
    return;
  }
  openStatic(target.root, path.names, path.folder).then(
    guarded(answer, 'static file', (found: StaticLookup) => {
      if (found.kind === 'file' && !answer.usable) closeFile(found.file, fields);
      if (!answer.usable) return;
      if (found.kind === 'folder') {
        answer.fail('301 Moved Permanently', 'Moved permanently', { Location: asUri(`${request.path}/${request.search}`) });
      } else if (found.kind === 'missing') {
        (found.suspicious ? log.warn : log.debug)('static not found', { ...fields, why: found.why });
        answer.fail('404 Not Found', 'Not found');
      } else {
        try {
          respond(answer, request, found.file, target, fields);
        } catch (error) {
          closeFile(found.file, fields);
          throw error;
        }
      }
    }),
    guarded(answer, 'static lookup', (error: unknown) => {
      log.warn('static failed', { ...fields, why: errorMessage(error) });
      answer.fail('404 Not Found', 'Not found');
    }),
  );
}
