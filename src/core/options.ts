/*
 * The core options: one table serves the [core] section, the command line, the defaults and
 * the help text, so the three can never disagree.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installation's plugin folder (not the working directory's, as in the C websocksy). */
export const DEFAULT_PLUGIN_FOLDER = fileURLToPath(new URL('../../../plugins', import.meta.url));
export interface CoreConfig {
  port: number;
  listen: string;
  /** Seconds between pings; a client silent for a whole interval after a ping is closed. 0 = off. */
  ping: number;
  /** Largest message a client may send, in bytes. */
  maxMessage: number;
  /** Largest run of peer bytes without a frame boundary, in bytes. */
  frameLimit: number;
  /** Bytes queued towards a client before its peer is paused. */
  clientBuffer: number;
  /** Bytes queued towards a peer before the connection is closed with 1009. */
  peerBuffer: number;
  /** Seconds allowed for connecting to a peer before the upgrade is refused with 504. */
  connectTimeout: number;
  /** Folder of drop-in plugins, absolute. */
  plugins: string;
  verbose: boolean;
}

export const defaultCoreConfig: Readonly<CoreConfig> = {
  port: 8001,
  listen: '::',
  ping: 30,
  maxMessage: 1024 * 1024,
  frameLimit: 1024 * 1024,
  clientBuffer: 1024 * 1024,
  peerBuffer: 4 * 1024 * 1024,
  connectTimeout: 5,
  plugins: DEFAULT_PLUGIN_FOLDER,
  verbose: false,
};

export interface CoreOption {
  /** Key in [core] and long flag name. */
  readonly key: string;
  readonly short?: string;
  readonly argument: string;
  readonly help: string;
  apply(config: CoreConfig, value: string): void;
}

function integer(value: string, min: number, max: number, what: string): number {
  const text = value.trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`"${value}" is not ${what} (a whole number from ${min} to ${max})`);
  }
  return n;
}

const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 };

/** A byte count, with an optional k/m/g suffix (powers of 1024). */
function byteSize(value: string, min: number): number {
  const match = /^(\d+)\s*([kmg]?)i?b?$/i.exec(value.trim());
  const unit = match === null ? undefined : UNITS[(match[2] ?? '').toLowerCase()];
  const n = match === null || unit === undefined ? NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new Error(`"${value}" is not a size in bytes of at least ${min} (e.g. 65536, 512k, 4m)`);
  }
  return n;
}

function boolean(value: string): boolean {
  const text = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  throw new Error(`"${value}" is not a boolean (true/false, yes/no, on/off, 1/0)`);
}

export const coreOptions: readonly CoreOption[] = [
  {
    key: 'port', short: 'p', argument: 'PORT', help: 'listen port (default 8001)',
    apply: (c, v) => { c.port = integer(v, 0, 65535, 'a port'); },
  },
  {
    key: 'listen', short: 'l', argument: 'HOST', help: 'listen address (default ::, all IPv6 and IPv4 addresses)',
    apply: (c, v) => {
      if (v.trim() === '') throw new Error('the listen address is empty');
      c.listen = v.trim();
    },
  },
  {
    key: 'ping', short: 'k', argument: 'SECONDS', help: 'ping interval; a client that stays silent for a whole interval after a ping is closed; 0 = off (default 30)',
    apply: (c, v) => { c.ping = integer(v, 0, 86400, 'a number of seconds'); },
  },
  {
    key: 'max-message', argument: 'BYTES', help: 'largest message a client may send (default 1m)',
    apply: (c, v) => { c.maxMessage = byteSize(v, 125); },
  },
  {
    key: 'frame-limit', argument: 'BYTES', help: 'largest run of peer data without a frame boundary (default 1m)',
    apply: (c, v) => { c.frameLimit = byteSize(v, 1); },
  },
  {
    key: 'client-buffer', argument: 'BYTES', help: 'data queued towards a client before its peer is paused (default 1m)',
    apply: (c, v) => { c.clientBuffer = byteSize(v, 1024); },
  },
  {
    key: 'peer-buffer', argument: 'BYTES', help: 'data queued towards a peer before the connection closes with 1009 (default 4m)',
    apply: (c, v) => { c.peerBuffer = byteSize(v, 1024); },
  },
  {
    key: 'connect-timeout', argument: 'SECONDS', help: 'time allowed to connect to a peer; then the upgrade gets 504 (default 5)',
    apply: (c, v) => { c.connectTimeout = integer(v, 1, 3600, 'a number of seconds'); },
  },
  {
    // Read before any other setting, wherever it stands: see pluginFolderOf (plugin-folder.ts).
    key: 'plugins', short: 'P', argument: 'DIR', help: "folder of drop-in plugins (default: the installation's plugins/)",
    apply: (c, v) => {
      if (v.trim() === '') throw new Error('the plugin folder is empty');
      c.plugins = resolve(v.trim());
    },
  },
  {
    key: 'verbose', short: 'v', argument: '', help: 'log debug lines too',
    apply: (c, v) => { c.verbose = boolean(v); },
  },
];

export function findCoreOption(key: string): CoreOption | undefined {
  return coreOptions.find((option) => option.key === key);
}
