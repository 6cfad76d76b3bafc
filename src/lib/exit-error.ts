/*
 * An error that ends a `websocksy` command: main.ts writes its message to stderr and exits with
 * its code (2 a bad command line, 1 a bad configuration or a failed start, 69 no engine).
 */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}
