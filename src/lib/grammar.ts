/*
 * The value grammars every setting shares, so that a port, a size or a duration means the same
 * thing in [core], [tunnel], [route], the command line and `websocksy forward`. Each throws an
 * Error whose message quotes the value and says what was expected; callers add the file, line
 * and key.
 */

/** A decimal TCP/UDP port; 0 ("any free port") only where `allowZero` says so. */
export function parsePort(text: string, options: { readonly allowZero?: boolean; readonly what?: string } = {}): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  const min = options.allowZero === true ? 0 : 1;
  if (!(port >= min && port <= 65535)) {
    throw new Error(`"${text}" is not ${options.what ?? 'a port'} (a whole number from ${min} to 65535)`);
  }
  return port;
}

/** `port` or `low-high`, both ends included. */
export function parsePortRange(text: string): readonly [number, number] {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const port = parsePort(text);
    return [port, port];
  }
  const low = parsePort(text.slice(0, dash));
  const high = parsePort(text.slice(dash + 1));
  if (low > high) throw new Error(`port range ${text} runs backwards`);
  return [low, high];
}

const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 };

/** A byte count with an optional k/m/g suffix (powers of 1024; `kb`, `KiB` also read), from `min` to `max`. */
export function parseSize(text: string, min: number, max: number): number {
  const match = /^(\d+)\s*([kmg]?)i?b?$/i.exec(text.trim());
  const unit = match === null ? undefined : UNITS[(match[2] ?? '').toLowerCase()];
  const n = match === null || unit === undefined ? NaN : Number(match[1]) * unit;
  if (!(Number.isSafeInteger(n) && n >= min && n <= max)) {
    throw new Error(`"${text}" is not a size from ${formatSize(min)} to ${formatSize(max)} (bytes, or with k, m, g: 65536, 512k, 4m)`);
  }
  return n;
}

/** A byte count as the size grammar writes it, in the largest unit that divides it. */
export function formatSize(bytes: number): string {
  for (const [suffix, unit] of [['g', UNITS['g']], ['m', UNITS['m']], ['k', UNITS['k']]] as const) {
    if (unit !== undefined && bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return String(bytes);
}

/** A whole number from `min` to `max`. */
export function parseCount(text: string, min: number, max: number): number {
  const trimmed = text.trim();
  const n = /^\d{1,15}$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!(n >= min && n <= max)) throw new Error(`"${text}" is not a whole number from ${min} to ${max}`);
  return n;
}

/** A number of seconds, decimals allowed, from `min` to `max`. */
export function parseSeconds(text: string, min: number, max: number): number {
  const trimmed = text.trim();
  const n = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!(n >= min && n <= max)) throw new Error(`"${text}" is not a number of seconds from ${min} to ${max}`);
  return n;
}

export function parseBoolean(text: string): boolean {
  const value = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new Error(`"${text}" is not a boolean (true/false, yes/no, on/off, 1/0)`);
}
