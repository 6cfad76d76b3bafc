/*
 * A tunnel client's check of the server's welcome, at the edge: the welcome is the server's
 * JSON, and what it announces drives the client's timers and its memory. A heartbeat of 0 (or
 * a string) made the client ping in a 1 ms loop, a window of 10^15 let one local connection
 * fill the client's replay list without bound, a window of 0 or a string stalled or dropped
 * every stream, and a session id that is no string threw in the middle of the handshake. Each
 * number must be within what a websocksy server may be configured to announce (options.ts).
 */
import { HEARTBEAT_BOUNDS_MS, TIMEOUT_BOUNDS_MS, WINDOW_BOUNDS } from './options.js';
import { isResumeState, ProtocolError, type ControlMessage } from './protocol.js';

export type Welcome = Extract<ControlMessage, { type: 'welcome' }>;

interface Bounds {
  readonly min: number;
  readonly max: number;
}

function checkNumber(name: string, value: unknown, bounds: Bounds, integer = false): void {
  const fits = typeof value === 'number' && Number.isFinite(value) && value >= bounds.min && value <= bounds.max && (!integer || Number.isInteger(value));
  if (!fits) throw new ProtocolError(`welcome ${name} ${JSON.stringify(value) ?? String(value)} is not ${integer ? 'an integer' : 'a number'} within ${bounds.min}..${bounds.max}`);
}

/** The welcome, checked; a ProtocolError names the first field that is wrong. */
export function checkWelcome(message: Welcome): Welcome {
  // Typed as a Welcome, but it is whatever the server sent.
  const fields = message as unknown as Record<string, unknown>;
  const { session, secret, resumed } = fields;
  if (typeof session !== 'string' || session === '') throw new ProtocolError('welcome without a session id');
  if (typeof resumed !== 'boolean') throw new ProtocolError('welcome without "resumed" true or false');
  // The secret comes once, with a new session; a resume's welcome carries the server's stream state instead.
  if (!resumed && (typeof secret !== 'string' || secret === '')) throw new ProtocolError('welcome of a new session without its secret');
  if (resumed && !isResumeState(fields['state'])) throw new ProtocolError('welcome of a resumed session without a valid stream state');
  checkNumber('window', fields['window'], WINDOW_BOUNDS, true);
  checkNumber('heartbeatMs', fields['heartbeatMs'], HEARTBEAT_BOUNDS_MS);
  checkNumber('timeoutMs', fields['timeoutMs'], TIMEOUT_BOUNDS_MS);
  return message;
}
