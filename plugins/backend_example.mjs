// @ts-check
/*
 * Example JS backend plugin: `example` picks the peer from a JSON routing table, looked up
 * asynchronously for every connection (as a backend asking a database or a service would), so
 * edits apply to the next connection and a slow lookup delays only its own connection.
 *
 *   websocksy -b example -c routes=/etc/websocksy/routes.json -c default=tcp://127.0.0.1:5900
 *
 * routes.json maps request paths (query string included) to answers:
 *   { "/vnc": { "host": "tcp://10.0.0.5:5900", "framing": "binary" },
 *     "/chat": { "host": "unix:///run/chat.sock", "framing": "newline", "framingConfig": "lf" },
 *     "/mqtt": { "host": "tcp://127.0.0.1:1883", "framing": "binary", "protocol": "mqtt" } }
 * Paths not in the table go to `default`; without one they are refused (404). A route's
 * `protocol` names a subprotocol: websocksy answers with it when the client offers it (in any
 * case), and with none when it does not. A relative `routes` file is read from the config
 * file's folder (from the working directory for -c).
 *
 * A backend plugin is an ES module named backend_<name>.mjs in the plugin folder whose default
 * export is a factory: (host) => Backend. The types come from websocksy's plugin API
 * (src/core/api.ts); `make` type-checks this file. websocksy checks every answer, so a route
 * without a host is refused with 502 and a log line, not a crash.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

/** @type {import('websocksy').BackendFactory} */
export default function createExampleBackend(host) {
  /** @type {string | undefined} */
  let routes;
  /** @type {string | undefined} */
  let fallback;

  /** The routing table; a table that cannot be read routes nothing (and says why). */
  async function readRoutes() {
    if (routes === undefined) return {};
    try {
      return JSON.parse(await readFile(routes, 'utf8'));
    } catch (error) {
      host.warn(`example backend: cannot use routes ${routes}: ${error instanceof Error ? error.message : String(error)}`);
      return {};
    }
  }

  return {
    name: 'example',
    configure(key, value, context) {
      if (key === 'routes') routes = resolve(context.baseDir, value);
      else if (key === 'default') fallback = value;
      else throw new Error(`unknown key "${key}" (known keys: routes, default)`);
    },
    ready() {
      if (routes === undefined && fallback === undefined) throw new Error('set routes (a JSON file), default (a peer address), or both');
    },
    async query(request) {
      const table = await readRoutes();
      const route = Object.hasOwn(table, request.endpoint) ? table[request.endpoint] : undefined;
      if (route === undefined) return fallback === undefined ? null : { host: fallback };
      const { protocol, ...answer } = route;
      if (protocol === undefined) return answer;
      // PeerInfo.protocol is an index into what this client offered; answer none when it is not there.
      const offered = request.protocols.findIndex((name) => name.toLowerCase() === String(protocol).toLowerCase());
      return offered < 0 ? answer : { ...answer, protocol: offered };
    },
  };
}
