/*
 * uWS's HttpRequest over node's IncomingMessage. As in uWS, it is valid only during the handler
 * it was given to (uWS reuses its memory after): a later use throws here, so a caller that
 * kept it is caught at once rather than reading another request's headers. Header names come
 * lower-case, in the order sent, duplicates included; values and the URL are decoded as UTF-8.
 */
import type { IncomingMessage } from 'node:http';
import { utf8FromLatin1, type Bytes, textOf } from './text.js';

export class JsHttpRequest {
  private valid = true;
  readonly path: string;
  private readonly query: string | undefined;

  constructor(private readonly message: IncomingMessage) {
    const url = utf8FromLatin1(message.url ?? '/');
    const mark = url.indexOf('?');
    this.path = mark === -1 ? url : url.slice(0, mark);
    this.query = mark === -1 ? undefined : url.slice(mark + 1);
  }

  /** Ends the request's life: called when its handler returns. */
  invalidate(): void {
    this.valid = false;
  }

  private live(): IncomingMessage {
    if (!this.valid) throw new Error('uWS.HttpRequest must not be accessed after await or route handler return');
    return this.message;
  }

  getHeader(lowerCaseKey: Bytes): string {
    const raw = this.live().rawHeaders;
    const wanted = textOf(lowerCaseKey);
    for (let i = 0; i < raw.length; i += 2) {
      if ((raw[i] as string).toLowerCase() === wanted) return utf8FromLatin1(raw[i + 1] as string);
    }
    return '';
  }

  forEach(cb: (key: string, value: string) => void): void {
    const raw = this.live().rawHeaders;
    for (let i = 0; i < raw.length; i += 2) cb((raw[i] as string).toLowerCase(), utf8FromLatin1(raw[i + 1] as string));
  }

  getUrl(): string {
    this.live();
    return this.path;
  }

  /** uWS 20.30 gives the method in lower case. */
  getMethod(): string {
    return (this.live().method ?? '').toLowerCase();
  }

  getCaseSensitiveMethod(): string {
    return this.live().method ?? '';
  }

  /** The query without its `?`; undefined when there is no `?`, '' for a bare one. With a key, that key's first value. */
  getQuery(): string | undefined;
  getQuery(key: string): string | undefined;
  getQuery(key?: string): string | undefined {
    this.live();
    if (key === undefined || this.query === undefined) return this.query;
    return new URLSearchParams(this.query).get(key) ?? undefined;
  }
}
