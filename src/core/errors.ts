/** The message of anything thrown, for log lines and error answers that add their own context. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
