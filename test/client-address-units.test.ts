/*
 * The client-address pieces in-process: the PROXY header websocksy writes (read back by the
 * tests' own parser), the hop grammar of X-Forwarded-For and Forwarded, the walk that picks
 * the client, peer-file options, and the refusal of a PROXY header to a datagram peer.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { describe, test } from 'node:test';
import { parsePeerLine } from '../src/backends/peer-lines.js';
import { openPeer } from '../src/core/bridge-opener.js';
import { openGate } from '../src/core/peer-gate.js';
import type { PeerInfo, PeerQuery } from '../src/core/api.js';
import { Refusal } from '../src/core/refusal.js';
import { resolveClientAddress, type ClientAddressPolicy, type ClientAddresses } from '../src/front/client-address.js';
import { AddressList } from '../src/lib/address-list.js';
import { forwardedFor, forwardedForHops, forwardedHops, nodeAddress, plainAddress } from '../src/lib/forwarded-for.js';
import { parseProxyVersion, proxyHeader, writeProxyHeader } from '../src/lib/proxy-header.js';
import { tempDir } from './helpers/peers.js';
import { parseProxyHeader, type ReceivedHeader } from './helpers/proxy-peer.js';

function parsed(bytes: Buffer): ReceivedHeader {
  const header = parseProxyHeader(bytes);
  assert.ok(header !== 'more' && !(header instanceof Error), `not a header: ${String(header)}`);
  assert.equal(header.length, bytes.length, 'the header is all that was written');
  return header;
}

describe('the PROXY header websocksy writes', () => {
  test('v2 TCP4: HAProxy\'s signature, PROXY command, addresses and ports in network order', () => {
    const bytes = proxyHeader('v2', { address: '192.0.2.7', port: 0 }, { address: '127.0.0.1', port: 40000 });
    assert.equal(bytes.length, 28);
    assert.equal(bytes.subarray(0, 13).toString('hex'), '0d0a0d0a000d0a515549540a21');
    assert.deepEqual(parsed(bytes), { version: 2, command: 'PROXY', family: 'TCP4', source: '192.0.2.7', destination: '127.0.0.1', sourcePort: 0, destinationPort: 40000, length: 28 });
  });

  test('v2 TCP6, and a mixed pair written as IPv6 with the IPv4 end mapped', () => {
    const six = parsed(proxyHeader('v2', { address: '2001:db8::7', port: 1 }, { address: '::1', port: 2 }));
    assert.deepEqual([six.family, six.source, six.destination, six.sourcePort, six.destinationPort], ['TCP6', '2001:db8::7', '::1', 1, 2]);
    const mixed = parsed(proxyHeader('v2', { address: '192.0.2.7', port: 0 }, { address: '2001:db8:0:1::5', port: 9 }));
    assert.deepEqual([mixed.family, mixed.source, mixed.destination], ['TCP6', '::ffff:c000:207', '2001:db8:0:1::5']);
    const mapped = parsed(proxyHeader('v2', { address: '::ffff:10.0.0.1', port: 0 }, { address: '127.0.0.1', port: 9 }));
    assert.deepEqual([mapped.family, mapped.source], ['TCP4', '10.0.0.1']);
  });

  test('v1 lines, and UNKNOWN / LOCAL when an end is not an address', () => {
    assert.equal(proxyHeader('v1', { address: '192.0.2.7', port: 0 }, { address: '127.0.0.1', port: 5 }).toString(), 'PROXY TCP4 192.0.2.7 127.0.0.1 0 5\r\n');
    assert.equal(proxyHeader('v1', { address: '2001:db8::7', port: 0 }, { address: '127.0.0.1', port: 5 }).toString(), 'PROXY TCP6 2001:db8::7 ::ffff:127.0.0.1 0 5\r\n');
    assert.equal(proxyHeader('v1', { address: '', port: 0 }, { address: '127.0.0.1', port: 5 }).toString(), 'PROXY UNKNOWN\r\n');
    const local = parsed(proxyHeader('v2', { address: 'nonsense', port: 0 }, { address: '127.0.0.1', port: 5 }));
    assert.deepEqual([local.command, local.family, local.length], ['LOCAL', 'UNSPEC', 16]);
  });

  test('on a unix socket, which has no address, the destination is the unspecified address of the client\'s family', async () => {
    const dir = tempDir('websocksy-proxy-unix-');
    const path = `${dir.path}/peer.sock`;
    const received: Buffer[] = [];
    const server = createServer((socket) => socket.on('data', (chunk: Buffer) => received.push(chunk)));
    server.listen(path);
    await once(server, 'listening');
    try {
      for (const [client, destination] of [['192.0.2.7', '0.0.0.0'], ['2001:db8::7', '::']] as const) {
        const socket = connect(path);
        await once(socket, 'connect');
        writeProxyHeader(socket, 'v2', client);
        socket.end();
        await once(socket, 'close');
        for (let i = 0; i < 100 && Buffer.concat(received).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        const header = parsed(Buffer.concat(received.splice(0)));
        assert.deepEqual([header.source, header.destination, header.destinationPort], [client, destination, 0]);
      }
    } finally {
      server.close();
      dir.remove();
    }
  });

  test('versions are off, v1 or v2', () => {
    assert.equal(parseProxyVersion(' V2 '), 'v2');
    assert.equal(parseProxyVersion('off'), 'off');
    assert.throws(() => parseProxyVersion('v3'), /not a PROXY protocol version/);
  });
});

describe('hops in X-Forwarded-For and Forwarded', () => {
  test('addresses with and without brackets and ports; names, unknown and obfuscated ones are not addresses', () => {
    assert.equal(nodeAddress(' 192.0.2.1 '), '192.0.2.1');
    assert.equal(nodeAddress('192.0.2.1:4711'), '192.0.2.1');
    assert.equal(nodeAddress('2001:DB8::1'), '2001:db8::1');
    assert.equal(nodeAddress('[2001:db8::1]'), '2001:db8::1');
    assert.equal(nodeAddress('[2001:db8::1]:4711'), '2001:db8::1');
    assert.equal(nodeAddress('::ffff:10.1.2.3'), '10.1.2.3');
    for (const bad of ['', 'unknown', '_hidden', 'example.com', '999.1.1.1', '[192.0.2.1]', '2001:db8::1:4711x', '192.0.2.1:', '[::1', '1.2.3.4:99999']) assert.equal(nodeAddress(bad), null, bad);
  });

  test('one spelling per address', () => {
    assert.equal(plainAddress('0:0:0:0:0:ffff:7f00:1'), '127.0.0.1');
    assert.equal(plainAddress('2001:0DB8:0:0:0:0:0:1'), '2001:db8::1');
  });

  test('X-Forwarded-For lines join into one list', () => {
    assert.deepEqual(forwardedForHops(['1.1.1.1, 2.2.2.2', '3.3.3.3']), ['1.1.1.1', ' 2.2.2.2', '3.3.3.3']);
  });

  test('Forwarded: quoted values with commas and semicolons, IPv6 with ports, elements without for', () => {
    const hops = forwardedHops(['for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"', 'by=x;host="a,b;c", For=unknown, ,']);
    assert.deepEqual(hops.map(forwardedFor), ['192.0.2.60', '[2001:db8:cafe::17]:4711', '', 'unknown']);
    assert.equal(forwardedFor('for="\\"quoted\\""'), '"quoted"');
    assert.deepEqual(forwardedHops(['for="a\\\\", for=b']), ['for="a\\\\"', ' for=b']);
    for (const bad of ['for="[::1]', 'for', 'for=1.2.3.4 x', 'for=a;for=b', '=x', 'for=[::1]']) assert.throws(() => forwardedFor(bad), Error, bad);
  });

  test('Forwarded: a client\'s unclosed quote at the left end spoils only its own element', () => {
    assert.deepEqual(forwardedHops(['for="broken, for=192.0.2.7']), ['for="broken', ' for=192.0.2.7']);
  });
});

function text(address: string): ArrayBuffer {
  return new TextEncoder().encode(address).buffer as ArrayBuffer;
}

function resolve(remote: string, proxied: string, headers: Array<[string, string]>, policy: Partial<ClientAddressPolicy> & { trusted?: string }): ClientAddresses | Refusal {
  const full: ClientAddressPolicy = { trustedProxies: AddressList.parse(policy.trusted ?? ''), proxyProtocol: policy.proxyProtocol ?? 'off', header: policy.header ?? 'x-forwarded-for' };
  const res = { getRemoteAddressAsText: () => text(remote), getProxiedRemoteAddressAsText: () => text(proxied) };
  return resolveClientAddress(res, headers.map(([name, value]) => ({ name, value })), full, 1);
}

function clientOf(result: ClientAddresses | Refusal): string {
  assert.ok(!(result instanceof Refusal), `refused: ${result instanceof Refusal ? result.detail : ''}`);
  return result.clientAddress;
}

describe('who the client is', () => {
  const xff = (value: string): Array<[string, string]> => [['x-forwarded-for', value]];

  test('nobody is trusted by default: PROXY headers and X-Forwarded-For are claims, not facts', () => {
    assert.deepEqual(resolve('0:0:0:0:0:ffff:7f00:2', '10.9.9.9', xff('10.8.8.8'), { proxyProtocol: 'v2' }), { clientAddress: '127.0.0.2', remoteAddress: '127.0.0.2', hopAddress: '127.0.0.2' });
  });

  test('a trusted peer\'s PROXY v2 header counts only with proxy-protocol = v2, and is then required', () => {
    assert.deepEqual(resolve('127.0.0.1', '192.0.2.7', [], { trusted: '127.0.0.1', proxyProtocol: 'v2' }), { clientAddress: '192.0.2.7', remoteAddress: '127.0.0.1', hopAddress: '192.0.2.7' });
    assert.equal(clientOf(resolve('127.0.0.1', '192.0.2.7', [], { trusted: '127.0.0.1' })), '127.0.0.1');
    const refused = resolve('127.0.0.1', '', [], { trusted: '127.0.0.1', proxyProtocol: 'v2' });
    assert.ok(refused instanceof Refusal);
    assert.equal(refused.status, 400);
    assert.match(refused.detail, /trusted proxy 127\.0\.0\.1 sent no PROXY v2 header/);
    // An untrusted peer may come without one, and its header is not believed.
    assert.equal(clientOf(resolve('198.51.100.1', '', [], { trusted: '127.0.0.1', proxyProtocol: 'v2' })), '198.51.100.1');
  });

  test('X-Forwarded-For: the rightmost address that is not a trusted proxy', () => {
    const policy = { trusted: '127.0.0.1, 10.0.0.0/8' };
    assert.equal(clientOf(resolve('127.0.0.1', '', xff('6.6.6.6, 192.0.2.7, 10.0.0.5'), policy)), '192.0.2.7');
    assert.equal(clientOf(resolve('127.0.0.1', '', [['x-forwarded-for', '6.6.6.6'], ['x-forwarded-for', '192.0.2.8']], policy)), '192.0.2.8');
    // Only trusted proxies all the way: the first of them.
    assert.equal(clientOf(resolve('127.0.0.1', '', xff('10.0.0.9, 10.0.0.5'), policy)), '10.0.0.9');
    // Whatever the client wrote on the left is never read.
    assert.equal(clientOf(resolve('127.0.0.1', '', xff('"><script>, 192.0.2.7'), policy)), '192.0.2.7');
    // From an untrusted peer, nothing.
    assert.equal(clientOf(resolve('192.0.2.99', '', xff('10.1.1.1'), policy)), '192.0.2.99');
  });

  test('a malformed hop next to a trusted proxy ends the walk at that proxy', () => {
    const policy = { trusted: '127.0.0.1, 10.0.0.0/8' };
    assert.equal(clientOf(resolve('127.0.0.1', '', xff('192.0.2.7, garbage'), policy)), '127.0.0.1');
    assert.equal(clientOf(resolve('127.0.0.1', '', xff('192.0.2.7, unknown, 10.0.0.5'), policy)), '10.0.0.5');
    assert.equal(clientOf(resolve('127.0.0.1', '', xff(''), policy)), '127.0.0.1');
    assert.equal(clientOf(resolve('127.0.0.1', '', xff('1.2.3.4,'), policy)), '127.0.0.1');
  });

  test('Forwarded (client-address-header = forwarded): quoted, bracketed IPv6 with a port; X-Forwarded-For is then not read', () => {
    const policy = { trusted: '127.0.0.1', header: 'forwarded' as const };
    assert.equal(clientOf(resolve('127.0.0.1', '', [['forwarded', 'for=192.0.2.1, for="[2001:db8:cafe::17]:4711";proto=https'], ['x-forwarded-for', '10.9.9.9']], policy)), '2001:db8:cafe::17');
    assert.equal(clientOf(resolve('127.0.0.1', '', [['x-forwarded-for', '10.9.9.9']], policy)), '127.0.0.1');
    assert.equal(clientOf(resolve('127.0.0.1', '', [['forwarded', 'for="[2001:db8::1']], policy)), '127.0.0.1');
    assert.equal(clientOf(resolve('127.0.0.1', '', [['forwarded', 'for=_hidden']], policy)), '127.0.0.1');
    assert.equal(clientOf(resolve('127.0.0.1', '', [['forwarded', 'for="broken, for=192.0.2.7']], policy)), '192.0.2.7');
    assert.equal(clientOf(resolve('127.0.0.1', '', [['x-forwarded-for', '10.9.9.9']], { trusted: '127.0.0.1', header: 'none' })), '127.0.0.1');
  });

  test('a PROXY header and then X-Forwarded-For, when the proxied address is a trusted proxy too', () => {
    const result = resolve('127.0.0.1', '10.0.0.5', xff('192.0.2.7'), { trusted: '127.0.0.1, 10.0.0.5', proxyProtocol: 'v2' });
    assert.deepEqual(result, { clientAddress: '192.0.2.7', remoteAddress: '127.0.0.1', hopAddress: '10.0.0.5' });
  });
});

describe('peer-file options', () => {
  test('?proxy-v2, ?proxy-v1 and ?resumable combine with &; unknown text stays part of the peer', () => {
    const line = (text: string): unknown => {
      const result = parsePeerLine(text);
      return result.kind === 'peer' ? result.line : result;
    };
    assert.deepEqual(line('tcp://h:1?proxy-v2 *'), { peer: 'tcp://h:1', resumable: false, proxyProtocol: 'v2', protocol: '*' });
    assert.deepEqual(line('tcp://h:1?resumable&proxy-v1 *'), { peer: 'tcp://h:1', resumable: true, proxyProtocol: 'v1', protocol: '*' });
    assert.deepEqual(line('unix:///run/a?b *'), { peer: 'unix:///run/a?b', resumable: false, protocol: '*' });
    assert.deepEqual(line('tcp://h:1?proxy-v1&proxy-v2 *'), { kind: 'malformed', reason: 'both proxy-v1 and proxy-v2' });
  });
});

describe('a PROXY header is never sent to a datagram peer', () => {
  const query: PeerQuery = { endpoint: '/x', protocols: [], headers: [], clientAddress: '192.0.2.7', connectionId: 1 };
  const open = (answer: PeerInfo): Promise<unknown> =>
    openPeer({ backend: { name: 'test', query: () => answer }, gate: openGate, framing: () => ({ name: 'auto', frame: () => 0 }), connectTimeoutMs: 1000, backendTimeoutMs: 1000 }, query, () => false);

  test('a backend that asks for one to udp:// or unix-dgram:// is refused with 502', async () => {
    for (const host of ['udp://127.0.0.1:9', 'unix-dgram:///tmp/nowhere']) {
      await assert.rejects(open({ host, proxyProtocol: 'v2' }), (error: unknown) => error instanceof Refusal && error.status === 502 && /datagram peer/.test(error.detail));
    }
  });

  test('a plugin\'s unknown version is refused with 502, not sent', async () => {
    await assert.rejects(open({ host: 'tcp://127.0.0.1:9', proxyProtocol: 'v3' as 'v2' }), (error: unknown) => error instanceof Refusal && error.status === 502 && /PROXY protocol "v3"/.test(error.detail));
  });
});
