/*
 * The hops that X-Forwarded-For and Forwarded (RFC 7239) list, left (the first client) to
 * right (the nearest proxy). Each hop is read only when the walk from the right reaches it
 * (front/client-address.ts), so what a client wrote at the left end costs nothing and cannot
 * spoil the hops its trusted proxies appended.
 */
import { isIP } from 'node:net';

/**
 * One spelling per address, whoever wrote it: IPv6 compressed and lower-case (RFC 5952, as
 * WHATWG URL writes it; uWS writes every group in full), and an IPv4-mapped IPv6 address as
 * the IPv4 address it carries. Anything else is returned as it is.
 */
export function plainAddress(address: string): string {
  if (isIP(address) !== 6 || address.includes('%')) return address;
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return canonical;
  const high = parseInt(mapped[1] ?? '0', 16);
  const low = parseInt(mapped[2] ?? '0', 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * The IP address of one hop: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, with or without a
 * port (`192.0.2.1:4711`, `[2001:db8::1]:4711`). Null for anything else, including RFC 7239's
 * `unknown` and obfuscated identifiers (`_hidden`): they name no address.
 */
export function nodeAddress(text: string): string | null {
  const node = text.trim();
  if (isIP(node) !== 0) return plainAddress(node);
  const withPort = /^(?:\[([^\]]+)\]|(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}))(?::(\d{1,5}))?$/.exec(node);
  if (withPort === null || Number(withPort[3] ?? 0) > 65535) return null;
  const [, v6, v4] = withPort;
  if (v6 !== undefined) return isIP(v6) === 6 ? plainAddress(v6) : null;
  // A bare IPv4 address was taken above: this one has a port.
  return v4 !== undefined && withPort[3] !== undefined && isIP(v4) === 4 ? v4 : null;
}

/** X-Forwarded-For's hops as written, left to right; several header lines are one list (RFC 9110 §5.3). */
export function forwardedForHops(values: readonly string[]): string[] {
  return values.join(',').split(',');
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** Reads one Forwarded element (`for=…;proto=…`) for its `for` value; throws with the reason when malformed. */
class ForwardedElementReader {
  private at = 0;
  constructor(private readonly text: string) {}

  /** The element's `for` value, unquoted; '' without one. */
  forValue(): string {
    let forValue = '';
    this.skipSpace();
    for (;;) {
      const name = this.token().toLowerCase();
      if (this.text[this.at] !== '=') throw new Error(`parameter "${name}" has no "=" at ${this.at}`);
      this.at++;
      const value = this.text[this.at] === '"' ? this.quoted() : this.token();
      if (name === 'for') {
        if (forValue !== '') throw new Error('two "for" parameters in one element');
        forValue = value;
      }
      this.skipSpace();
      if (this.at >= this.text.length) return forValue;
      if (this.text[this.at] !== ';') throw new Error(`unexpected "${this.text[this.at]}" at ${this.at}`);
      this.at++;
      this.skipSpace();
    }
  }

  private token(): string {
    const start = this.at;
    while (this.at < this.text.length && TOKEN.test(this.text[this.at] as string)) this.at++;
    if (this.at === start) throw new Error(`expected a token at ${start}`);
    return this.text.slice(start, this.at);
  }

  private quoted(): string {
    let value = '';
    this.at++;
    while (this.at < this.text.length) {
      const char = this.text[this.at++] as string;
      if (char === '"') return value;
      if (char === '\\') {
        if (this.at >= this.text.length) break;
        value += this.text[this.at++];
      } else value += char;
    }
    throw new Error('unterminated quoted string');
  }

  private skipSpace(): void {
    while (this.text[this.at] === ' ' || this.text[this.at] === '\t') this.at++;
  }
}

/**
 * One Forwarded header line's elements as written, split at the commas outside quoted strings.
 * The quotes are counted from the right, where the trusted proxies' elements are, so a client's
 * unclosed quote at the left end spoils only its own part. Empty elements are skipped (RFC 9110 §5.6.1).
 */
function splitElements(text: string): string[] {
  const elements: string[] = [];
  let end = text.length;
  let quoted = false;
  const take = (start: number): void => {
    const element = text.slice(start, end);
    if (element.trim() !== '') elements.push(element);
  };
  for (let i = text.length - 1; i >= 0; i--) {
    const char = text[i];
    if (char === '"') {
      let backslashes = 0;
      while (text[i - 1 - backslashes] === '\\') backslashes++;
      if (backslashes % 2 === 0) quoted = !quoted;
    } else if (char === ',' && !quoted) {
      take(i + 1);
      end = i;
    }
  }
  take(0);
  return elements.reverse();
}

/** Forwarded's elements (each still to be read with forwardedFor), left to right. */
export function forwardedHops(values: readonly string[]): string[] {
  return values.flatMap(splitElements);
}

/** The `for` value of one Forwarded element ('' when it has none); throws with the reason when the element is malformed. */
export function forwardedFor(element: string): string {
  return new ForwardedElementReader(element).forValue();
}
