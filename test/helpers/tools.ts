/*
 * Third-party programs a test runs (Debian packages that .ci/run installs). Outside CI a test
 * whose program is missing skips with a message naming the package; with CI=true it fails.
 */
import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';

export const IN_CI = process.env['CI'] === 'true';

/** The first of `paths` that is an executable file, or undefined. */
export function findProgram(paths: readonly string[]): string | undefined {
  return paths.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A suite's `skip` option: the reason outside CI when `missing`, else false (CI then fails in requireProgram). */
export function skipUnlessInstalled(found: boolean, what: string): string | false {
  return !found && !IN_CI ? `${what} is not installed` : false;
}

/** Fails (in CI) when the program is missing. */
export function requireProgram<T>(found: T | undefined, what: string): T {
  assert.ok(found !== undefined, `${what} is required here (.ci/run installs it)`);
  return found;
}
