/*
 * The part of fetch the HTTP transport uses, as a structural type (the platform's fetch fits it),
 * and one request with its own time limit whose failures come out as close codes.
 */
import { ABNORMAL_CLOSURE, closeCodeOfStatus } from './transport.js';

export interface FetchInit {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array<ArrayBuffer>;
  readonly signal: AbortSignal;
  readonly cache: 'no-store';
}

export interface FetchResponseLike {
  readonly status: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponseLike>;

/** A request that did not answer 200: `code` is the close code its status stands for. */
export class RequestFailure extends Error {
  override readonly name = 'RequestFailure';

  constructor(
    readonly code: number,
    reason: string,
    /** The HTTP status, 0 when there was no answer. */
    readonly status: number,
  ) {
    super(reason);
  }
}

export interface RequestOptions {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array<ArrayBuffer>;
  readonly timeoutMs: number;
  /** Aborts the request with the others of its transport or attempt. */
  readonly signal: AbortSignal;
}

/** The body of a 200 answer; anything else throws a RequestFailure. */
export async function request(fetch: FetchLike, url: string, options: RequestOptions): Promise<Uint8Array> {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  const timer = setTimeout(abort, options.timeoutMs);
  options.signal.addEventListener('abort', abort);
  try {
    const init: FetchInit = { method: options.method, headers: options.headers, signal: controller.signal, cache: 'no-store' };
    const response = await fetch(url, options.body === undefined ? init : { ...init, body: options.body });
    const body = new Uint8Array(await response.arrayBuffer());
    if (response.status !== 200) throw new RequestFailure(closeCodeOfStatus(response.status), `HTTP ${response.status} from ${options.method} ${new URL(url).pathname}`, response.status);
    return body;
  } catch (error) {
    if (error instanceof RequestFailure) throw error;
    const why = controller.signal.aborted && !options.signal.aborted ? `no answer within ${options.timeoutMs} ms` : (error as Error).message;
    throw new RequestFailure(ABNORMAL_CLOSURE, `${options.method} ${new URL(url).pathname}: ${why}`, 0);
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', abort);
  }
}
