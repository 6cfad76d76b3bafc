/*
 * A folder served on a route (`static = DIR`): GET and HEAD, index.html for folders, files
 * streamed with backpressure. A path is decoded segment by segment and refused if any
 * segment decodes to `..` or holds a slash, backslash or NUL (`..%2f`, `%5c`), and the file's
 * real path must still lie in the folder, so neither encoding nor symlinks lead outside it.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import type { HttpResponse } from 'uWebSockets.js';
import type { ClientRequest } from '../core/request.js';
import { errorMessage } from '../lib/errors.js';
import { log } from '../lib/log.js';
import { ClientResponse } from './client-response.js';
import { restOf, type Route } from './route-table.js';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.ico': 'image/x-icon', '.wasm': 'application/wasm', '.pdf': 'application/pdf',
};

/** The file a URL path (below the route's prefix, still percent-encoded) names under `root`, or null if it tries to leave it. */
export function staticPath(root: string, rest: string): string | null {
  const parts: string[] = [];
  for (const segment of rest.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return null;
    }
    if (decoded === '' || decoded === '.') continue;
    if (decoded === '..' || /[/\\\0]/.test(decoded)) return null;
    parts.push(decoded);
  }
  return join(root, ...parts);
}

async function findFile(root: string, path: string): Promise<{ file: string; size: number } | null> {
  let file = path;
  let info = await stat(file);
  if (info.isDirectory()) {
    file = join(file, 'index.html');
    info = await stat(file);
  }
  if (!info.isFile()) return null;
  const real = await realpath(file);
  if (real !== root && !real.startsWith(root + sep)) return null;
  return { file: real, size: info.size };
}

export function serveStatic(res: HttpResponse, client: ClientRequest, route: Route, root: string): void {
  const answer = new ClientResponse(res, client.id, client.hasBody);
  if (client.method !== 'GET' && client.method !== 'HEAD') {
    answer.fail('405 Method Not Allowed', 'Method not allowed', { Allow: 'GET, HEAD' });
    return;
  }
  const fields = { route: route.prefix, path: client.path, client: client.clientAddress };
  const path = staticPath(root, restOf(route, client.path));
  if (path === null) {
    log.warn('static path refused', { ...fields, why: 'leaves the folder or is badly encoded' });
    answer.fail('404 Not Found', 'Not found');
    return;
  }
  findFile(root, path).then(
    (found) => {
      if (!answer.usable) return;
      if (found === null) {
        log.debug('static not found', { ...fields, why: 'not a file in the folder' });
        answer.fail('404 Not Found', 'Not found');
        return;
      }
      const type = TYPES[extname(found.file).toLowerCase()] ?? 'application/octet-stream';
      if (client.method === 'HEAD') {
        res.cork(() => {
          answer.writeHead('200 OK', [['Content-Type', type]]);
          answer.endWithoutBody(found.size);
        });
        return;
      }
      const source = createReadStream(found.file);
      res.cork(() => answer.writeHead('200 OK', [['Content-Type', type]]));
      answer.sendBody(source, found.size, (error) => {
        if (error !== null) log.warn('static response cut', { ...fields, why: errorMessage(error) });
      });
    },
    (error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') log.warn('static failed', { ...fields, why: code ?? errorMessage(error) });
      answer.fail('404 Not Found', 'Not found');
    },
  );
}
