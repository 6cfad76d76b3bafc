/*
 * `websocksy status [URL]`: what a running websocksy is doing, as socketproxy's `status` showed
 * it: sessions (attached or not, age, bytes each way, what is buffered for the client, the
 * transport), bridged connections and tunnels, read from its status JSON (`[status] path`).
 */
import { errorMessage } from '../lib/errors.js';
import { readSecretFile } from '../lib/secret.js';

export const STATUS_USAGE = `usage: websocksy status [URL] [--json] [--token-file FILE]

Reads the status JSON of a running websocksy (its [status] path) and prints its sessions,
connections and tunnels. URL defaults to http://127.0.0.1:8001/.status.
  --json             print the JSON as it came
  --token-file FILE  the status token ([status] token-file or token-env), sent as
                     Authorization: Bearer; else the environment's WEBSOCKSY_STATUS_TOKEN`;

/** Where the token comes from when --token-file is not given. */
export const STATUS_TOKEN_VARIABLE = 'WEBSOCKSY_STATUS_TOKEN';

const DEFAULT_URL = 'http://127.0.0.1:8001/.status';

export interface StatusCommand {
  readonly url: string;
  readonly json: boolean;
  readonly help: boolean;
  /** The bearer token to send, or null. */
  readonly token: string | null;
}

export function parseStatusCommand(argv: readonly string[]): StatusCommand {
  let url: string | null = null;
  let json = false;
  let help = false;
  let token: string | null = process.env[STATUS_TOKEN_VARIABLE] ?? null;
  for (let at = 0; at < argv.length; at++) {
    const arg = argv[at] as string;
    if (arg === '--token-file') {
      const file = argv[++at];
      if (file === undefined) throw new Error('--token-file needs a FILE');
      token = readSecretFile(file);
    } else if (arg === '--json') json = true;
    else if (arg === '-h' || arg === '--help') help = true;
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}; see websocksy status --help`);
    else if (url !== null) throw new Error(`one URL only (got ${url} and ${arg})`);
    else url = arg;
  }
  const target = url ?? DEFAULT_URL;
  let parsed: URL;
  try {
    parsed = new URL(target);
  } catch {
    throw new Error(`"${target}" is not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`"${target}": the status is fetched over http or https`);
  return { url: target, json, help, token: token === '' ? null : token };
}

interface Row {
  readonly [column: string]: string;
}

function table(rows: readonly Row[]): string {
  const first = rows[0];
  if (first === undefined) return '  (none)\n';
  const columns = Object.keys(first);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string => `  ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`;
  return line(columns) + rows.map((row) => line(columns.map((column) => row[column] ?? ''))).join('');
}

/** "3m12s" for the time since `iso`, measured at `now`. */
export function age(iso: unknown, now: number): string {
  if (typeof iso !== 'string') return '-';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}

function text(value: unknown): string {
  return value === null || value === undefined ? '-' : String(value);
}

function records(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.filter((item): item is Record<string, unknown> => typeof item === 'object' && item !== null) : [];
}

function cap(value: unknown): string {
  return value === 0 ? 'no cap' : `cap ${text(value)}`;
}

/** The limits' block (docs/limits.md): what is held against each cap, and every refusal by reason. */
export function formatLimits(limits: unknown): string {
  if (typeof limits !== 'object' || limits === null) return '';
  const l = limits as Record<string, unknown>;
  const refused = typeof l['refused'] === 'object' && l['refused'] !== null ? Object.entries(l['refused'] as Record<string, unknown>) : [];
  return (
    'limits:\n' +
    `  connections  ${text(l['connections'])} (${cap(l['maxConnections'])})\n` +
    `  addresses    ${text(l['addresses'])}, busiest ${text(l['busiestAddress'])} (${cap(l['maxConnectionsPerAddress'])} per address)\n` +
    `  identities   ${text(l['identities'])}, busiest ${text(l['busiestIdentity'])} (${cap(l['maxConnectionsPerIdentity'])} per identity)\n` +
    `  throttled    ${text(l['throttled'])}\n` +
    `  refused      ${refused.length === 0 ? '-' : refused.map(([reason, count]) => `${reason} ${text(count)}`).join(', ')}\n`
  );
}

/** The status JSON as the tables an operator reads. */
export function formatStatus(status: Record<string, unknown>, now: number): string {
  const sessions = records(status['sessions']).map((s) => ({
    session: text(s['session']),
    state: text(s['state']),
    transport: text(s['transport']),
    client: text(s['client']),
    age: age(s['since'], now),
    away: s['detachedSince'] === null ? '-' : age(s['detachedSince'], now),
    'to client': text(s['bytesToClient']),
    'to peer': text(s['bytesToPeer']),
    buffered: text(s['buffered']),
    paused: s['peerPaused'] === true ? 'yes' : 'no',
    resumes: text(s['resumes']),
    peer: text(s['peer']),
  }));
  const connections = records(status['connections']).map((c) => ({
    id: text(c['id']),
    client: text(c['client']),
    endpoint: text(c['endpoint']),
    peer: text(c['peer']),
    age: age(c['since'], now),
    'to client': text(c['bytesToClient']),
    'to peer': text(c['bytesToPeer']),
  }));
  const server = status['server'];
  const tunnelSessions = typeof server === 'object' && server !== null ? records((server as Record<string, unknown>)['sessions']) : [];
  const tunnels = tunnelSessions.map((t) => ({
    identity: text(t['identity']),
    session: text(t['session']),
    state: text(t['state']),
    client: text(t['client']),
    age: age(t['since'], now),
    streams: String(records(t['streams']).length),
    'bytes in': text(t['bytesIn']),
    'bytes out': text(t['bytesOut']),
  }));
  const upstreams = records(status['upstreams']).map((u) => ({
    name: text(u['name']),
    url: text(u['url']),
    state: text(u['state']),
    reconnects: text(u['reconnects']),
    'last error': text(u['lastError']),
  }));
  const total = typeof status['connectionsTotal'] === 'number' ? status['connectionsTotal'] : connections.length;
  const shown = total > connections.length ? ` (first ${connections.length} shown)` : '';
  return (
    `sessions: ${sessions.length}\n${table(sessions)}\n` +
    `connections: ${total}${shown}\n${table(connections)}\n` +
    `tunnel sessions: ${tunnels.length}\n${table(tunnels)}\n` +
    `upstreams: ${upstreams.length}\n${table(upstreams)}` +
    (status['limits'] === undefined ? '' : `\n${formatLimits(status['limits'])}`)
  );
}

/** Fetches and prints; throws with what went wrong (the address, the status, the body). */
export async function runStatus(command: StatusCommand): Promise<void> {
  let response: Response;
  try {
    response = await fetch(command.url, { signal: AbortSignal.timeout(10_000), headers: { Accept: 'application/json', ...(command.token === null ? {} : { Authorization: `Bearer ${command.token}` }) } });
  } catch (error) {
    throw new Error(`cannot fetch ${command.url}: ${errorMessage(error instanceof Error && error.cause instanceof Error ? error.cause : error)}`);
  }
  const body = await response.text();
  if (!response.ok) throw new Error(`${command.url} answered ${response.status}: ${body.trim().slice(0, 200)}${response.status === 401 ? ' (give the status token: --token-file FILE or WEBSOCKSY_STATUS_TOKEN)' : ' (is [status] path set to this path?)'}`);
  if (command.json) {
    process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
    return;
  }
  let status: unknown;
  try {
    status = JSON.parse(body);
  } catch {
    throw new Error(`${command.url} did not answer JSON: is it websocksy's [status] path?`);
  }
  if (typeof status !== 'object' || status === null || Array.isArray(status)) throw new Error(`${command.url} did not answer a JSON object`);
  process.stdout.write(formatStatus(status as Record<string, unknown>, Date.now()));
}
