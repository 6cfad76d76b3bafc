/*
 * Reconnect delays: exponential backoff with full jitter (a uniform draw between 0 and the
 * exponential ceiling), so that the clients a server restart dropped do not come back in step.
 */
export function backoffDelay(attempt: number, minDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
