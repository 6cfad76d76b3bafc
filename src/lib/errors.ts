/** The message of anything thrown, for log lines and error answers that add their own context. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The errno-style code of a system error (`ECONNREFUSED`), else its message. */
export function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : errorMessage(error);
}
