/*
 * A client's HTTP request as the front has read and checked it (src/front/request-reader.ts):
 * copied out of uWS's HttpRequest, which is only valid during its handler, with the path
 * normalised and every header known to be well formed. Whatever serves the request — a bridge,
 * a route, a tunnel — sees only this.
 */

/** Header names lower-case, in arrival order; values as uWS gives them (trimmed). */
export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

export interface ClientRequest {
  /** The connection id used in every log line about this request. */
  readonly id: number;
  /** Upper-case, e.g. `GET`. */
  readonly method: string;
  /** The path as received, for the log. */
  readonly rawPath: string;
  /** Normalised: starts with one `/`, no `.` or `..` segments, no empty segments, no backslash. */
  readonly path: string;
  /** `''`, or the query with its `?` (a bare `?` is kept). */
  readonly search: string;
  readonly headers: HeaderList;
  readonly clientAddress: string;
  /** A request body follows (Content-Length above 0, or chunked). */
  readonly hasBody: boolean;
}

/** The first value of header `name` (lower-case), or undefined. */
export function headerValue(request: { readonly headers: HeaderList }, name: string): string | undefined {
  for (const [key, value] of request.headers) if (key === name) return value;
  return undefined;
}

/** Splits Sec-WebSocket-Protocol into trimmed, distinct names, in the client's order. */
export function offeredProtocols(request: { readonly headers: HeaderList }): string[] {
  const names: string[] = [];
  for (const [key, value] of request.headers) {
    if (key !== 'sec-websocket-protocol') continue;
    for (const part of value.split(',')) {
      const name = part.trim();
      if (name !== '' && !names.includes(name)) names.push(name);
    }
  }
  return names;
}
