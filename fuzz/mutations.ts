/*
 * Ways to break a good request, each one named so that a case's input says what was done:
 * Sec-WebSocket-Key and -Version (missing, doubled, not base64 of 16 bytes), methods, header
 * names and values holding control bytes and 0x7f, huge and many headers, doubled Host and
 * Content-Length, Transfer-Encoding oddities (with a request smuggled in the body), request
 * targets (absolute-form, `//host:port/x`, `\`, `..`, `%2e%2e`, `%2f`, very long, bare `?`),
 * HTTP versions, line ends, Upgrade/Connection/subprotocol headers, pipelining and garbage.
 */
import type { Random } from '../test/helpers/random.js';
import { TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import { headerIndex, newKey, removeHeader, setHeader, upgradeDraft, type RequestDraft } from './request-draft.js';
import { PREFIX, SMUGGLED_PATH } from './target-paths.js';

export interface MutationContext {
  readonly port: number;
  /** A port nothing may reach: hostile paths name it as a host. */
  readonly canaryPort: number;
  /** The target's path prefix ('' for the bridge). */
  readonly prefix: string;
}

/** Breaks `draft` in place; returns what it did, e.g. `version:14`. */
type Mutation = (draft: RequestDraft, random: Random, context: MutationContext) => string;

const CONTROL_BYTES = [0x00, 0x01, 0x07, 0x08, 0x0b, 0x0c, 0x0d, 0x0a, 0x0e, 0x1b, 0x1f, 0x7f, 0x80, 0xff];
const SMUGGLED = `GET ${SMUGGLED_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

function insertAt(text: string, insert: string, random: Random): string {
  const at = random.int(0, text.length);
  return text.slice(0, at) + insert + text.slice(at);
}

function controlChar(random: Random): string {
  return String.fromCharCode(random.pick(CONTROL_BYTES));
}

function hexOf(text: string): string {
  return [...text].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
}

/** A header line from the draft, or a new one. */
function someHeaderIndex(draft: RequestDraft, random: Random): number {
  if (draft.lines.length === 0 || random.chance(0.2)) {
    draft.lines.push('X-Fuzz: value');
    return draft.lines.length - 1;
  }
  return random.int(0, draft.lines.length - 1);
}

const key: Mutation = (draft, random) => {
  const current = newKey(random);
  const variant = random.pick(['missing', 'duplicate-same', 'duplicate-different', 'not-16-bytes', 'bad-chars', 'length', 'unpadded', 'spaces', 'empty']);
  const index = headerIndex(draft, 'sec-websocket-key');
  switch (variant) {
    case 'missing':
      removeHeader(draft, 'sec-websocket-key');
      break;
    case 'duplicate-same':
      if (index >= 0) draft.lines.push(draft.lines[index] as string);
      break;
    case 'duplicate-different':
      draft.lines.push(`Sec-WebSocket-Key: ${current}`);
      break;
    case 'not-16-bytes':
      // 24 characters of base64 whose last sextet leaves bits set past the 16th byte.
      setHeader(draft, 'Sec-WebSocket-Key', `${current.slice(0, 21)}${random.pick(['B', 'C', 'z', '9', '/'])}==`);
      break;
    case 'bad-chars':
      setHeader(draft, 'Sec-WebSocket-Key', `${current.slice(0, 10)}${random.pick(['!', '-', '_', '*', '.', '\t'])}${current.slice(11)}`);
      break;
    case 'length':
      setHeader(draft, 'Sec-WebSocket-Key', random.bytes(random.pick([1, 15, 17, 23, 25, 32, 1000, 8000])).toString('base64').slice(0, random.pick([4, 20, 23, 25, 28, 1000, 8000])));
      break;
    case 'unpadded':
      setHeader(draft, 'Sec-WebSocket-Key', current.replace(/=+$/, ''));
      break;
    case 'spaces':
      setHeader(draft, 'Sec-WebSocket-Key', ` ${current.slice(0, 12)} ${current.slice(12)} `);
      break;
    case 'empty':
      setHeader(draft, 'Sec-WebSocket-Key', '');
      break;
  }
  return `key:${variant}`;
};

const version: Mutation = (draft, random) => {
  const variant = random.pick(['missing', 'other', 'duplicate-same', 'duplicate-different']);
  if (variant === 'missing') removeHeader(draft, 'sec-websocket-version');
  else if (variant === 'other') {
    const value = random.pick(['8', '12', '14', '0', '13 ', '13,13', '13, 8', '013', '', '-13', '99999999999999999999', 'thirteen', '1.3']);
    setHeader(draft, 'Sec-WebSocket-Version', value);
    return `version:${JSON.stringify(value)}`;
  } else draft.lines.push(`Sec-WebSocket-Version: ${variant === 'duplicate-same' ? '13' : random.pick(['8', '14', '12'])}`);
  return `version:${variant}`;
};

const method: Mutation = (draft, random) => {
  const value = random.pick([
    'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'PATCH', 'get', 'Get', 'GETX', 'G ET', 'GET\t', 'PRI', '',
    random.bytes(random.int(1, 12)).toString('hex').toUpperCase(), 'A'.repeat(random.pick([100, 5000])), 'GE\x00T', '\x16\x03\x01',
  ]);
  draft.method = value;
  return `method:${JSON.stringify(value.slice(0, 20))}`;
};

const headerName: Mutation = (draft, random) => {
  const index = someHeaderIndex(draft, random);
  const line = draft.lines[index] as string;
  const colon = Math.max(0, line.indexOf(':'));
  const bad = random.pick([controlChar(random), ' ', '(', '"', '/', '\u00e9', '@']);
  draft.lines[index] = insertAt(line.slice(0, colon), bad, random) + line.slice(colon);
  return `header-name:0x${hexOf(bad)}`;
};

const headerValue: Mutation = (draft, random) => {
  const index = someHeaderIndex(draft, random);
  const line = draft.lines[index] as string;
  const colon = line.indexOf(':');
  const bad = random.chance(0.8) ? controlChar(random) : random.pick(['\r', '\n', '\r\n', '\u00ff\u00fe', '\u00c3\u00a9']);
  draft.lines[index] = line.slice(0, colon + 1) + insertAt(line.slice(colon + 1), bad, random);
  return `header-value:0x${hexOf(bad)}`;
};

const headerShape: Mutation = (draft, random) => {
  const added: Readonly<Record<string, readonly string[]>> = {
    'obs-fold': ['X-Folded: first', ' continued'],
    'no-colon': ['Header-without-colon'],
    'empty-name': [': value'],
    'space-before-colon': [random.pick(['Host : 127.0.0.1', 'Transfer-Encoding : chunked', 'X-Fuzz : y'])],
    'tab-value': ['X-Tab:\tvalue\t'],
    'trailing-space-name': ['X-Fuzz\t: y'],
  };
  const variant = random.pick([...Object.keys(added), 'no-space']);
  if (variant === 'no-space') draft.lines = draft.lines.map((line) => line.replace(': ', ':'));
  else draft.lines.push(...(added[variant] ?? []));
  return `header-shape:${variant}`;
};

const bigHeaders: Mutation = (draft, random) => {
  if (random.chance(0.5)) {
    const size = random.pick([4096, 8192, 16384, 65536, 1024 * 1024]);
    draft.lines.push(`X-Huge: ${'h'.repeat(size)}`);
    return `huge-header:${size}`;
  }
  const count = random.pick([30, 46, 47, 48, 49, 64, 100, 1000]);
  for (let i = 0; i < count; i++) draft.lines.push(`X-Many-${i}: ${i}`);
  return `many-headers:${count}`;
};

const host: Mutation = (draft, random, context) => {
  const variant = random.pick(['missing', 'duplicate-same', 'duplicate-different', 'empty', 'odd']);
  if (variant === 'missing') removeHeader(draft, 'host');
  else if (variant === 'duplicate-same') draft.lines.push('Host: 127.0.0.1');
  else if (variant === 'duplicate-different') draft.lines.push(`Host: 127.0.0.1:${context.canaryPort}`);
  else if (variant === 'empty') setHeader(draft, 'Host', '');
  else {
    const value = random.pick(['a b', '[::1', 'x:99999', 'user@evil', `127.0.0.1:${context.canaryPort}`, 'h'.repeat(300), '-', '%00']);
    setHeader(draft, 'Host', value);
    return `host:${JSON.stringify(value.slice(0, 30))}`;
  }
  return `host:${variant}`;
};

function withBody(draft: RequestDraft, method: string): void {
  if (draft.method === 'GET' || draft.method === 'HEAD') draft.method = method;
  removeHeader(draft, 'content-length');
  removeHeader(draft, 'transfer-encoding');
}

const contentLength: Mutation = (draft, random) => {
  withBody(draft, 'POST');
  const body = random.bytes(random.pick([0, 5, 100]));
  draft.body = body;
  const variant = random.pick(['duplicate-same', 'duplicate-different', 'not-decimal', 'longer-than-body', 'shorter-than-body', 'smuggle-after', 'list']);
  switch (variant) {
    case 'duplicate-same':
      draft.lines.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length}`);
      break;
    case 'duplicate-different':
      draft.body = Buffer.concat([body, Buffer.from(SMUGGLED)]);
      draft.lines.push(`Content-Length: ${body.length}`, `Content-Length: ${draft.body.length}`);
      break;
    case 'not-decimal': {
      const value = random.pick(['-1', '1e3', ' 5', '0x10', '+5', '5 5', '99999999999999999999', '', 'five', '1.0', '\t7']);
      draft.lines.push(`Content-Length: ${value}`);
      return `content-length:${JSON.stringify(value)}`;
    }
    case 'longer-than-body':
      draft.lines.push(`Content-Length: ${body.length + random.pick([1, 1000, 1_000_000_000])}`);
      break;
    case 'shorter-than-body':
      draft.body = Buffer.concat([body, Buffer.from('trailing bytes that are not a request\r\n\r\n')]);
      draft.lines.push(`Content-Length: ${body.length}`);
      break;
    case 'smuggle-after':
      // A well-framed body that carries a request: the upstream must see it only as bytes.
      draft.body = Buffer.from(SMUGGLED);
      draft.lines.push(`Content-Length: ${draft.body.length}`);
      break;
    case 'list':
      draft.lines.push(`Content-Length: ${body.length}, ${body.length}`);
      break;
  }
  return `content-length:${variant}`;
};

function chunked(body: Buffer): Buffer {
  return body.length === 0 ? Buffer.from('0\r\n\r\n') : Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
}

const transferEncoding: Mutation = (draft, random) => {
  withBody(draft, 'POST');
  const body = random.bytes(random.pick([0, 7, 300]));
  const variant = random.pick([
    'chunked', 'bad-chunks', 'other-coding', 'doubled', 'with-content-length', 'space-before-colon', 'folded', 'odd-spelling', 'smuggle-in-chunk',
  ]);
  draft.body = chunked(body);
  switch (variant) {
    case 'chunked':
      draft.lines.push('Transfer-Encoding: chunked');
      break;
    case 'bad-chunks': {
      const broken = random.pick(['zz\r\nabc\r\n0\r\n\r\n', 'ffffffffffffffff\r\nabc\r\n', '5\r\nabc\r\n', '3;ext=1\r\nabc\r\n0\r\n\r\n', '3\nabc\n0\n\n', '-1\r\n\r\n', '0x3\r\nabc\r\n0\r\n\r\n', '3\r\nabcdef\r\n0\r\n\r\n']);
      draft.lines.push('Transfer-Encoding: chunked');
      draft.body = Buffer.from(broken);
      return `transfer-encoding:bad-chunks ${JSON.stringify(broken)}`;
    }
    case 'other-coding': {
      const value = random.pick(['gzip', 'identity', 'gzip, chunked', 'chunked, gzip', 'Chunked', ' chunked', 'chunked\t', 'chunked, chunked', 'xchunked', '']);
      draft.lines.push(`Transfer-Encoding: ${value}`);
      return `transfer-encoding:${JSON.stringify(value)}`;
    }
    case 'doubled':
      draft.lines.push('Transfer-Encoding: chunked', `Transfer-Encoding: ${random.pick(['chunked', 'identity'])}`);
      break;
    case 'with-content-length':
      draft.body = Buffer.concat([Buffer.from('0\r\n\r\n'), Buffer.from(SMUGGLED)]);
      draft.lines.push('Transfer-Encoding: chunked', `Content-Length: ${random.pick([5, draft.body.length])}`);
      break;
    case 'space-before-colon':
      draft.lines.push('Transfer-Encoding : chunked');
      break;
    case 'folded':
      draft.lines.push('Transfer-Encoding:', ' chunked');
      break;
    case 'odd-spelling':
      draft.lines.push(random.pick(['Transfer_Encoding: chunked', 'transfer-encoding: CHUNKED', 'Transfer-Encoding: "chunked"']));
      break;
    case 'smuggle-in-chunk':
      draft.body = chunked(Buffer.from(SMUGGLED));
      draft.lines.push('Transfer-Encoding: chunked');
      break;
  }
  return `transfer-encoding:${variant}`;
};

const requestTarget: Mutation = (draft, random, context) => {
  const prefix = context.prefix;
  const canary = `127.0.0.1:${context.canaryPort}`;
  const value = random.pick([
    `http://127.0.0.1:${context.port}${prefix}/x`, `127.0.0.1:${context.port}`, '*', '', `${prefix.slice(1)}/x`, 'x',
    `//${canary}/x`, `${prefix}//${canary}/x`, `${prefix}/\\${canary}/x`, `${prefix}\\..\\x`, `${prefix}/..`, `${prefix}/../admin`,
    `${prefix}/%2e%2e/admin`, `${prefix}/%2E%2e%2fadmin`, `${prefix}/..%2f..%2fadmin`, `${prefix}/.%2e/admin`, `${prefix}%2f..`,
    `${prefix}/%2f%2f${canary}/x`, `/..${prefix}`, `/./${prefix}/./x`, `${prefix}/%00`, `${prefix}/%zz`, `${prefix}/%`, `${prefix}?`,
    `${prefix}/x?`, `${prefix}?a b`, `${prefix}?\x7f`, `${prefix}#frag`, `${prefix}/${'a'.repeat(random.pick([1000, 8192, 70_000]))}`,
    `${prefix}/${'../'.repeat(50)}x`, `${prefix}${'/'.repeat(100)}`, `${prefix}/\u00e9\u00c3\u00a9`, `${prefix}/\t`, `${PREFIX.tunnel}/..${prefix}`,
    `${prefix}/..${PREFIX.tunnel}`, `/a/..${PREFIX.tunnel}`, `${prefix};x=1`, `${prefix}/x?${'q'.repeat(10_000)}`,
  ]);
  draft.target = value;
  return `target:${JSON.stringify(value.slice(0, 60))}`;
};

const httpVersion: Mutation = (draft, random) => {
  draft.version = random.pick(['HTTP/1.0', '', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/1.1 ', 'http/1.1', 'HTTP/1', 'HTTP/11', 'HTTP/1.1x', 'HTTP/0.9', 'HTTP/ 1.1']);
  return `http-version:${JSON.stringify(draft.version)}`;
};

const lineEnds: Mutation = (draft, random) => {
  const variant = random.pick(['lf', 'cr', 'mixed', 'cr-cr-lf', 'leading-blank-lines', 'leading-space']);
  if (variant === 'lf') draft.eol = '\n';
  else if (variant === 'cr') draft.eol = '\r';
  else if (variant === 'cr-cr-lf') draft.eol = '\r\r\n';
  else if (variant === 'mixed') {
    const index = someHeaderIndex(draft, random);
    draft.lines[index] = `${draft.lines[index] as string}\nX-After-Lf: 1`;
  } else if (variant === 'leading-blank-lines') draft.before = Buffer.from('\r\n\r\n');
  else draft.before = Buffer.from(' ');
  return `line-ends:${variant}`;
};

const upgradeHeaders: Mutation = (draft, random) => {
  const variant = random.pick([
    'no-upgrade', 'no-connection', 'upgrade:websocket, h2c', 'upgrade:WebSocket', 'upgrade:websocket2', 'upgrade:', 'connection:keep-alive, Upgrade',
    'connection:close', 'connection:keep-alive', 'upgrade:h2c',
  ]);
  if (variant === 'no-upgrade') removeHeader(draft, 'upgrade');
  else if (variant === 'no-connection') removeHeader(draft, 'connection');
  else {
    const [name, value] = variant.split(':') as [string, string];
    setHeader(draft, name === 'upgrade' ? 'Upgrade' : 'Connection', value);
  }
  return `upgrade-headers:${variant}`;
};

const subprotocol: Mutation = (draft, random) => {
  const variant = random.pick(['empty', 'commas', 'many', 'control', 'tunnel', 'tunnel-spaced', 'duplicate', 'extensions']);
  switch (variant) {
    case 'empty':
      setHeader(draft, 'Sec-WebSocket-Protocol', '');
      break;
    case 'commas':
      setHeader(draft, 'Sec-WebSocket-Protocol', ',, ,');
      break;
    case 'many':
      setHeader(draft, 'Sec-WebSocket-Protocol', Array.from({ length: random.pick([50, 1000]) }, (_, i) => `p${i}`).join(', '));
      break;
    case 'control':
      setHeader(draft, 'Sec-WebSocket-Protocol', `chat${controlChar(random)}`);
      break;
    case 'tunnel':
      setHeader(draft, 'Sec-WebSocket-Protocol', TUNNEL_SUBPROTOCOL);
      break;
    case 'tunnel-spaced':
      setHeader(draft, 'Sec-WebSocket-Protocol', ` ${TUNNEL_SUBPROTOCOL.toUpperCase()} ,x`);
      break;
    case 'duplicate':
      draft.lines.push('Sec-WebSocket-Protocol: a', 'Sec-WebSocket-Protocol: b');
      break;
    case 'extensions':
      setHeader(draft, 'Sec-WebSocket-Extensions', random.pick(['permessage-deflate; client_max_window_bits=99', 'permessage-deflate; server_no_context_takeover; x', 'x'.repeat(5000), 'permessage-deflate,permessage-deflate']));
      break;
  }
  return `subprotocol:${variant}`;
};

const pipelined: Mutation = (draft, random, context) => {
  const second = random.chance(0.5) ? `GET ${PREFIX.api}/second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n` : upgradeDraftText(random, context);
  draft.after = Buffer.concat([draft.after, Buffer.from(second)]);
  return 'pipelined';
};

function upgradeDraftText(random: Random, context: MutationContext): string {
  const second = upgradeDraft(`${context.prefix}/second`, random, null);
  return [`GET ${second.target} HTTP/1.1`, ...second.lines, '', ''].join('\r\n');
}

const expect: Mutation = (draft, random) => {
  withBody(draft, 'PUT');
  draft.body = random.bytes(random.pick([10, 1000]));
  draft.lines.push(`Content-Length: ${draft.body.length}`, `Expect: ${random.pick(['100-continue', '100-Continue', 'nonsense'])}`);
  return 'expect';
};

const garbage: Mutation = (draft, random) => {
  const variant = random.pick(['random-bytes', 'printable', 'tls-hello', 'http2-preface', 'blank-lines', 'nothing', 'null-bytes']);
  const replaced: Record<string, () => Buffer> = {
    'random-bytes': () => random.bytes(random.int(1, 4096)),
    printable: () => Buffer.from(Array.from({ length: random.int(1, 2000) }, () => String.fromCharCode(random.int(0x20, 0x7e))).join('')),
    'tls-hello': () => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), random.bytes(500)]),
    'http2-preface': () => Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    'blank-lines': () => Buffer.from('\r\n'.repeat(random.int(1, 100))),
    nothing: () => Buffer.alloc(0),
    'null-bytes': () => Buffer.alloc(random.int(1, 2000)),
  };
  draft.replaced = (replaced[variant] as () => Buffer)();
  return `garbage:${variant}`;
};

/** Mutations that make sense for any target, and those that break a handshake. */
const ANY: readonly Mutation[] = [method, headerName, headerValue, headerShape, bigHeaders, host, contentLength, transferEncoding, requestTarget, requestTarget, httpVersion, lineEnds, pipelined, garbage];
const HANDSHAKE: readonly Mutation[] = [key, key, version, version, upgradeHeaders, subprotocol];

/** Breaks `draft` with 1-3 mutations; returns their names. */
export function mutate(draft: RequestDraft, random: Random, context: MutationContext, upgrade: boolean): string[] {
  const count = random.pick([1, 1, 1, 2, 2, 3]);
  const pool = upgrade ? [...ANY, ...HANDSHAKE] : [...ANY, expect];
  return Array.from({ length: count }, () => random.pick(pool)(draft, random, context));
}
