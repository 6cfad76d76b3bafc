/*
 * A worker thread that checks passwords against bcrypt and argon2 hashes (hash-wasm). Such a
 * check takes tens of milliseconds by design; run on the main thread it would stall every
 * connection for that long. Messages: `{ id, password, hash }` in, `{ id, ok }` or
 * `{ id, error }` out.
 */
import { parentPort } from 'node:worker_threads';
import { argon2Verify, bcryptVerify } from 'hash-wasm';

interface Job {
  readonly id: number;
  readonly password: string;
  readonly hash: string;
}

const port = parentPort;
if (port === null) throw new Error('hash-worker.js runs as a worker thread');

/** bcrypt reads at most 72 bytes: a longer password cannot be the stored one (no silent truncation), nor can an empty one. */
const BCRYPT_MAX_BYTES = 72;

port.on('message', (job: Job) => {
  if (!job.hash.startsWith('$argon2')) {
    const bytes = Buffer.byteLength(job.password);
    if (bytes === 0 || bytes > BCRYPT_MAX_BYTES) {
      port.postMessage({ id: job.id, ok: false });
      return;
    }
  }
  const check = job.hash.startsWith('$argon2') ? argon2Verify({ password: job.password, hash: job.hash }) : bcryptVerify({ password: job.password, hash: job.hash });
  check.then(
    (ok) => port.postMessage({ id: job.id, ok }),
    (error: unknown) => port.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
