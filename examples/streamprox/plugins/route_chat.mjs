// @ts-check
/*
 * A chat room as a websocksy route module (examples/streamprox/streamprox.cfg; the API is in
 * docs/routes.md, "Route modules"). Under its prefix (/chat):
 *   GET  /chat/messages[?after=ID]  the messages kept, as JSON: [{ id, from, text, at }], only
 *                                   those after ID if given
 *   POST /chat/messages             posts {"from": "...", "text": "..."}: 201 and the message
 *   WS   /chat/ws                   subprotocol "chat" when offered; on open, {"history": [...]};
 *                                   then {"message": {...}} for every message posted either way;
 *                                   a text message {"from": "...", "text": "..."} posts one
 * module-config: how many messages are kept for newcomers (default 100).
 */

const MAX_FIELD = 500;

/** @typedef {{ id: number, from: string, text: string, at: string }} Message */

let keep = 100;
/** @type {Message[]} */
const messages = [];
let lastId = 0;
/** @type {Set<import('websocksy').RouteSocket>} */
const members = new Set();

/** @param {unknown} value */
const isField = (value) => typeof value === 'string' && value.length > 0 && value.length <= MAX_FIELD;

/**
 * Stores a message and tells every member; null when `from` or `text` is not a short string.
 * @param {unknown} posted
 * @returns {Message | null}
 */
function post(posted) {
  const { from, text } = /** @type {{ from?: unknown, text?: unknown }} */ (posted ?? {});
  if (!isField(from) || !isField(text)) return null;
  const message = { id: ++lastId, from: String(from), text: String(text), at: new Date().toISOString() };
  messages.push(message);
  if (messages.length > keep) messages.shift();
  const event = JSON.stringify({ message });
  // send() returning false means that member is behind; websocksy closes it with 1013 if it
  // stays behind, so a room never waits for its slowest reader.
  for (const member of members) member.send(event);
  return message;
}

/**
 * @param {import('websocksy').RouteResponse} response
 * @param {number} status
 * @param {unknown} value
 */
function reply(response, status, value) {
  response.status = status;
  response.setHeader('Content-Type', 'application/json');
  response.setHeader('Cache-Control', 'no-store');
  response.end(JSON.stringify(value));
}

/**
 * The request body as JSON, or undefined when it is not; the route's max-body bounds it.
 * @param {import('websocksy').RouteRequest} request
 */
async function jsonBody(request) {
  /** @type {Buffer[]} */
  const chunks = [];
  for await (const chunk of request.body) chunks.push(chunk);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** @type {import('websocksy').RouteModule} */
export default {
  init(config) {
    if (config === null) return;
    keep = Number(config);
    if (!Number.isInteger(keep) || keep < 1) throw new Error(`module-config "${config}" is not a number of messages to keep`);
  },

  async request(request, response) {
    if (request.rest !== '/messages') return reply(response, 404, { error: 'not found' });
    if (request.method === 'GET' || request.method === 'HEAD') {
      const after = Number(new URLSearchParams(request.query).get('after') ?? 0);
      return reply(response, 200, messages.filter((message) => message.id > after));
    }
    if (request.method !== 'POST') {
      response.setHeader('Allow', 'GET, HEAD, POST');
      return reply(response, 405, { error: 'method not allowed' });
    }
    const message = post(await jsonBody(request));
    if (message === null) return reply(response, 400, { error: `a message is {"from": "...", "text": "..."}, each 1 to ${MAX_FIELD} characters` });
    reply(response, 201, message);
  },

  websocket: {
    accept(request, offered) {
      if (request.rest !== '/ws') return 404;
      return offered.includes('chat') ? 'chat' : null;
    },
    open(socket) {
      members.add(socket);
      socket.send(JSON.stringify({ history: messages }));
    },
    message(socket, data, isBinary) {
      let posted;
      try {
        posted = isBinary ? undefined : JSON.parse(data.toString('utf8'));
      } catch {
        posted = undefined;
      }
      if (post(posted) === null) socket.send(JSON.stringify({ error: 'a message is a JSON text {"from": "...", "text": "..."}' }));
    },
    close(socket) {
      members.delete(socket);
    },
  },
};
