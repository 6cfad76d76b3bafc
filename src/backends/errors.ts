/** The message of anything thrown, for wrapping it into a message with more context. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
