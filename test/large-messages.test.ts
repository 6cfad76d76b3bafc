/*
 * Messages larger than the default peer-buffer: with `--max-message 16m` and peer-buffer left
 * at its default (max(4m, max-message)), 8 MiB messages to a peer that reads at full speed
 * (a real tcp echo) all arrive and come back; with a 4m peer-buffer the second one used to
 * close the connection with "peer is not reading".
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { tcpEcho, type Peer } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const MESSAGE = 8 * 1024 * 1024;
const COUNT = 8;
/**
 * The client sends the next message while less than this many bytes are still to come back: as
 * soon as the echo of the message before last is complete, so two messages overlap on the wire
 * and the next one reaches websocksy while the last is still being written to the peer.
 */
const UNECHOED = MESSAGE;

let echo: Peer;
let server: RunningWebsocksy;
before(async () => {
  echo = await tcpEcho();
  server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-k', '0', '--max-message', '16m', '-c', `host=${echo.address}`, '-c', 'framing=binary']);
});
after(async () => {
  await server.stop();
  await echo.close();
});

test(`${COUNT} messages of 8 MiB, overlapping, through a tcp echo with the default peer-buffer`, { timeout: 60_000 }, async (t) => {
  const messages = Array.from({ length: COUNT }, () => randomBytes(MESSAGE));
  const sentHash = createHash('sha256');
  for (const message of messages) sentHash.update(message);
  const ws = new WebSocket(`${server.url}/big`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const receivedHash = createHash('sha256');
  let received = 0;
  let sent = 0;
  const started = Date.now();
  const outcome = await new Promise<string>((resolve) => {
    const sendMore = (): void => {
      while (sent < COUNT && sent * MESSAGE - received < UNECHOED) ws.send(messages[sent++] as Buffer);
    };
    ws.on('message', (data: Buffer) => {
      receivedHash.update(data);
      received += data.length;
      if (received >= COUNT * MESSAGE) resolve('all echoed');
      else sendMore();
    });
    ws.once('close', (code: number, reason: Buffer) => resolve(`closed ${code} ${reason.toString()}`));
    setTimeout(() => resolve(`timed out with ${received} bytes back`), 50_000).unref();
    sendMore();
  });
  const seconds = (Date.now() - started) / 1000;
  assert.equal(outcome, 'all echoed', server.log());
  assert.equal(receivedHash.digest('hex'), sentHash.digest('hex'), 'every byte back, in order');
  ws.close();
  await server.waitForLog(/close id=\d+ .*endpoint=\/big .*code=1005/);
  assert.doesNotMatch(server.log(), /not reading/);
  t.diagnostic(`${COUNT} x 8 MiB echoed in ${seconds.toFixed(2)} s`);
});
