/* Peer addresses as backends write them, parsed as the core connects to them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePeerAddress, PeerAddressError } from '../src/core/peer-address.js';

test('schemes, ports from the host or from the backend', () => {
  assert.deepEqual(parsePeerAddress('tcp://example.org:5901'), {
    address: { transport: 'tcp', host: 'example.org', port: 5901, text: 'tcp://example.org:5901' },
    guessedTransport: false,
    hostHasPort: true,
  });
  assert.deepEqual(parsePeerAddress('UDP://10.0.0.1', '53').address, { transport: 'udp', host: '10.0.0.1', port: 53, text: 'udp://10.0.0.1:53' });
  assert.equal(parsePeerAddress('tcp://h:1', '2').address.text, 'tcp://h:1', 'the port in the host wins');
  assert.deepEqual(parsePeerAddress('unix:///run/app.sock', '9').address, { transport: 'unix', path: '/run/app.sock', text: 'unix:///run/app.sock' });
  assert.equal(parsePeerAddress('unix-dgram:///run/log.sock').address.transport, 'unix-dgram');
});

test('IPv6 literals in brackets', () => {
  const parsed = parsePeerAddress('tcp://[::1]:80');
  assert.deepEqual(parsed.address, { transport: 'tcp', host: '::1', port: 80, text: 'tcp://[::1]:80' });
  assert.equal(parsePeerAddress('udp://[fe80::1]', '9').address.text, 'udp://[fe80::1]:9');
});

test('no scheme: tcp, and the caller is told it was a guess', () => {
  const parsed = parsePeerAddress('localhost:5900');
  assert.equal(parsed.guessedTransport, true);
  assert.equal(parsed.address.text, 'tcp://localhost:5900');
});

test('bad addresses say what is wrong', () => {
  const cases: Array<[string, string | undefined, RegExp]> = [
    ['fifotx://x', undefined, /unsupported scheme "fifotx:\/\/"/],
    ['tcp://host', undefined, /no port/],
    ['tcp://:80', undefined, /no host/],
    ['tcp://h:http', undefined, /"http" is not a port/],
    ['tcp://h:0', undefined, /"0" is not a port/],
    ['tcp://h:70000', undefined, /is not a port/],
    ['tcp://h:', '80', /"" is not a port/],
    ['tcp://::1:80', undefined, /IPv6 addresses need brackets/],
    ['tcp://[::1', undefined, /unclosed "\["/],
    ['tcp://[::1]x', undefined, /unexpected "x"/],
    ['unix://', undefined, /no socket path/],
  ];
  for (const [address, port, message] of cases) {
    assert.throws(() => parsePeerAddress(address, port), (error: unknown) => error instanceof PeerAddressError && message.test(error.message), address);
  }
});
