/*
 * MQTT.js (npm `mqtt`, which speaks MQTT over WebSocket with the `mqtt` subprotocol) through
 * websocksy to a real mosquitto: subscriptions and publications round-trip, and each client's
 * end() sends DISCONNECT right before its close frame, which the broker must get (its log says
 * "Client ID disconnected.", not "closed its connection"). The same through a websocket route to
 * mosquitto's own WebSocket listener, where websocksy's WebSocket client is the broker's client.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import { coalescingRelay } from './helpers/coalescing-relay.js';
import { closeLines } from './helpers/delivery.js';
import { MOSQUITTO, startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { tempDir } from './helpers/peers.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const CLIENTS = 50;
const MESSAGES = 5;

/** Resolves with `count` messages on the client's subscriptions, or rejects after `timeoutMs`. */
function collect(client: MqttClient, count: number, timeoutMs = 10_000): Promise<string[]> {
  const messages: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${messages.length} of ${count} messages in ${timeoutMs} ms`)), timeoutMs);
    client.on('message', (topic, payload) => {
      messages.push(`${topic} ${payload.toString()}`);
      if (messages.length === count) {
        clearTimeout(timer);
        resolve(messages);
      }
    });
  });
}

describe('MQTT.js over WebSocket through websocksy to mosquitto', { skip: skipUnlessInstalled(MOSQUITTO !== undefined, 'mosquitto (apt-get install mosquitto)') }, () => {
  const dir = tempDir('websocksy-mqtt-');
  let broker: Mosquitto;
  let server: RunningWebsocksy;

  before(async () => {
    broker = await startMosquitto(requireProgram(MOSQUITTO, 'mosquitto'), dir.path);
    server = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '-c', `host=tcp://127.0.0.1:${broker.port}`, '-c', 'protocol=mqtt']);
  });

  after(async () => {
    await server?.stop();
    await broker?.stop();
    dir.remove();
  });

  /** CLIENTS clients on `url`: each subscribes, publishes, gets its messages back and ends; returns their ids. */
  async function roundTrips(url: string, label: string): Promise<string[]> {
    const ids = Array.from({ length: CLIENTS }, (_, i) => `websocksy-${label}-${process.pid}-${i}`);
    await Promise.all(
      ids.map(async (id, i) => {
        const client = await connectAsync(url, { clientId: id, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
        try {
          await client.subscribeAsync(`websocksy/${id}/#`, { qos: 1 });
          const received = collect(client, MESSAGES);
          const published: string[] = [];
          for (let n = 0; n < MESSAGES; n++) {
            const topic = `websocksy/${id}/${n}`;
            // Large enough, now and then, to take several peer reads and WebSocket frames.
            const payload = `${i}:${n}:${'m'.repeat(n === MESSAGES - 1 ? 200_000 : 10 * n)}`;
            published.push(`${topic} ${payload}`);
            await client.publishAsync(topic, payload, { qos: n % 2 === 0 ? 0 : 1 });
          }
          assert.deepEqual((await received).sort(), published.sort(), `client ${i} got its messages back`);
        } finally {
          await client.endAsync();
        }
      }),
    );
    return ids;
  }

  /** The broker's log names each of `ids` as disconnected (DISCONNECT received), none as having closed its connection. */
  async function assertDisconnected(ids: readonly string[]): Promise<void> {
    const deadline = Date.now() + 10_000;
    const missing = (): string[] => ids.filter((id) => !broker.log().includes(`Client ${id} disconnected.`));
    while (missing().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    // (The readiness probe's connection shows as "Client <unknown> closed its connection.")
    const lost = ids.filter((id) => broker.log().includes(`Client ${id} closed its connection.`));
    assert.deepEqual(lost, [], 'no connection ended without its DISCONNECT');
    assert.deepEqual(missing(), [], `every DISCONNECT reached the broker; its log:\n${broker.log().slice(-4000)}`);
  }

  test(`${CLIENTS} clients subscribe, publish and end(): every message round-trips, the broker sees every DISCONNECT`, { timeout: 60_000 }, async () => {
    const closesBefore = (server.log().match(/\bclose id=/g) ?? []).length;
    await assertDisconnected(await roundTrips(`ws://127.0.0.1:${server.port}/mqtt`, 'direct'));
    const closes = (await closeLines(server, closesBefore + CLIENTS)).slice(closesBefore);
    assert.deepEqual(closes.filter((line) => /undelivered=/.test(line)), []);
  });

  test(`the same through a relay that passes each DISCONNECT and close frame to websocksy in one write`, { timeout: 60_000 }, async () => {
    const relay = await coalescingRelay(server.port);
    try {
      await assertDisconnected(await roundTrips(`ws://127.0.0.1:${relay.port}/mqtt`, 'coalesced'));
    } finally {
      await relay.close();
    }
  });

  test("the same through a websocket route to mosquitto's own WebSocket listener", { timeout: 60_000 }, async () => {
    writeFileSync(`${dir.path}/route.cfg`, `[core]\nlisten = 127.0.0.1\nport = 0\n[route /broker]\nwebsocket = ws://127.0.0.1:${broker.wsPort}/mqtt\n`);
    const routed = await startWebsocksy([`${dir.path}/route.cfg`]);
    try {
      await assertDisconnected(await roundTrips(`ws://127.0.0.1:${routed.port}/broker`, 'routed'));
    } finally {
      await routed.stop();
    }
  });

  test('the same with --early-upgrade: each CONNECT leaves right after the 101, often before the broker connection is there', { timeout: 60_000 }, async () => {
    const early = await startWebsocksy(['-l', '127.0.0.1', '-p', '0', '--early-upgrade', '-c', `host=tcp://127.0.0.1:${broker.port}`, '-c', 'protocol=mqtt']);
    try {
      await assertDisconnected(await roundTrips(`ws://127.0.0.1:${early.port}/mqtt`, 'early'));
      const closes = await closeLines(early, CLIENTS);
      assert.deepEqual(closes.filter((line) => /undelivered=/.test(line)), []);
    } finally {
      await early.stop();
    }
  });
});
