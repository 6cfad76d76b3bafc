/*
 * The [cluster] section: instances on several hosts that serve as one (docs/cluster.md,
 * "Across hosts"). They share a registry in Redis (who owns each tunnel identity, where each
 * node's link listens) and relay to each other's links, proving themselves with a secret they
 * all read from a file. One host's workers need none of this: their primary keeps the registry.
 */
import { isIP } from 'node:net';
import { parseCount, parsePort, parseSeconds } from '../lib/grammar.js';
import { readSecretFile } from '../lib/secret.js';
import { ConfigError, pathFrom, readSection, type Setting, type SettingOrigin } from './settings.js';

export interface ClusterConfig {
  /** redis:// or rediss:// URL of the registry. */
  readonly redis: string;
  /** This instance's number, 1..255, unique in the cluster: a session id carries it. */
  readonly instance: number;
  /** Shared by every instance; proves a relayed request comes from one. */
  readonly secret: string;
  /** Where each node's link listens (port 0: one the system picks, per worker). */
  readonly linkListen: string;
  readonly linkPort: number;
  /** The host other instances reach this one's links at. */
  readonly advertise: string;
  /** How long a registry entry lives unless its owner refreshes it (every third of it). */
  readonly ttlMs: number;
}

/** The keys of [cluster], for its errors and websocksy --help. */
export const CLUSTER_KEYS = ['redis', 'instance', 'secret-file', 'link', 'link-port', 'advertise', 'ttl'] as const;

/** A secret shorter than this is refused: it is all that stands between the links and anyone who reaches them. */
const MIN_SECRET_LENGTH = 32;

interface Draft {
  redis?: string;
  instance?: number;
  secret?: string;
  linkListen?: string;
  linkPort: number;
  advertise?: string;
  ttlMs: number;
}

function redisUrl(value: string): string {
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`"${text}" is not a URL (redis://HOST:PORT or rediss://HOST:PORT)`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`"${text}" is not a redis:// or rediss:// URL`);
  return text;
}

function hostOf(value: string): string {
  const host = value.trim().replace(/^\[(.*)\]$/, '$1');
  if (host === '' || /\s/.test(host)) throw new Error(`"${value}" is not a host`);
  return host;
}

function apply(draft: Draft, key: string, value: string, origin: SettingOrigin): void {
  if (key === 'redis') draft.redis = redisUrl(value);
  else if (key === 'instance') draft.instance = parseCount(value, 1, 255);
  else if (key === 'secret-file') {
    const secret = readSecretFile(pathFrom(origin, value.trim()));
    if (secret.length < MIN_SECRET_LENGTH) throw new Error(`the secret in ${value.trim()} has ${secret.length} characters; it needs at least ${MIN_SECRET_LENGTH} (e.g. openssl rand -base64 32)`);
    draft.secret = secret;
  } else if (key === 'link') draft.linkListen = hostOf(value);
  else if (key === 'link-port') draft.linkPort = parsePort(value, { allowZero: true });
  else if (key === 'advertise') draft.advertise = hostOf(value);
  else if (key === 'ttl') draft.ttlMs = parseSeconds(value, 1, 300) * 1000;
  else throw new Error(`unknown key (known: ${CLUSTER_KEYS.join(', ')})`);
}

const WILDCARDS: ReadonlySet<string> = new Set(['0.0.0.0', '::']);

/** The [cluster] section's configuration, or null without one; errors name the file and line. */
export function buildClusterConfig(settings: readonly Setting[]): ClusterConfig | null {
  const draft: Draft = { linkPort: 0, ttlMs: 5000 };
  const origin = readSection(settings, 'cluster', (key, value, at) => apply(draft, key, value, at));
  if (origin === undefined) return null;
  const { redis, instance, secret, linkListen } = draft;
  if (redis === undefined || instance === undefined || secret === undefined || linkListen === undefined) {
    const missing = [redis === undefined ? 'redis' : '', instance === undefined ? 'instance' : '', secret === undefined ? 'secret-file' : '', linkListen === undefined ? 'link' : ''];
    throw new ConfigError(`needs ${missing.filter((key) => key !== '').join(', ')} (docs/cluster.md, "Across hosts")`, origin);
  }
  const advertise = draft.advertise ?? (WILDCARDS.has(linkListen) ? null : linkListen);
  if (advertise === null) throw new ConfigError(`link = ${linkListen} listens on every address: say which one the other instances reach with advertise = HOST`, origin);
  if (isIP(advertise) === 0 && !/^[A-Za-z0-9.-]+$/.test(advertise)) throw new ConfigError(`advertise: "${advertise}" is neither an address nor a host name`, origin);
  return {
    redis,
    instance,
    secret,
    linkListen,
    linkPort: draft.linkPort,
    advertise,
    ttlMs: draft.ttlMs,
  };
}
