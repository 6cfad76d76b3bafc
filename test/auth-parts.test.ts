/*
 * The parts of src/auth/ that need no server: Origin patterns (ports, wildcards, look-alikes),
 * credential carriers and what stays of a request once its credential is taken out, the
 * constant-time token set, and a policy whose sections all refuse.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BasicCheck } from '../src/auth/basic.js';
import { BearerCheck } from '../src/auth/bearer.js';
import { parseCarriers, SUBPROTOCOL_PREFIX, takeCredential, withoutCredentials } from '../src/auth/carriers.js';
import { OriginList } from '../src/auth/origins.js';
import { AuthFailure } from '../src/auth/outcome.js';
import { AuthPolicy } from '../src/auth/policy.js';
import { AuthSection } from '../src/auth/section.js';
import { Refusal } from '../src/core/refusal.js';
import type { ClientRequest } from '../src/core/request.js';

function request(search: string, headers: Record<string, string>): ClientRequest {
  return {
    id: 1,
    method: 'GET',
    rawPath: '/x',
    path: '/x',
    search,
    headers: Object.entries(headers).map(([name, value]) => ({ name, value })),
    clientAddress: '127.0.0.1',
    remoteAddress: '127.0.0.1',
    hopAddress: '127.0.0.1',
    hasBody: false,
  };
}

describe('Origin lists', () => {
  const list = OriginList.parse('https://app.example.org, https://*.example.net, http://localhost:8080, https://[::1]:8443');

  test('exact origins, default ports, case', () => {
    assert.ok(list.allows('https://app.example.org'));
    assert.ok(list.allows('https://APP.example.org:443'));
    assert.ok(list.allows('http://localhost:8080'));
    assert.ok(list.allows('https://[::1]:8443'));
    assert.ok(!list.allows('http://app.example.org'));
    assert.ok(!list.allows('https://app.example.org:8443'));
    assert.ok(!list.allows('http://localhost'));
    assert.ok(!list.allows('https://app.example.org/'));
  });

  test('a wildcard stands for one or more labels, never the bare domain or a look-alike', () => {
    assert.ok(list.allows('https://a.example.net'));
    assert.ok(list.allows('https://a.b.example.net'));
    assert.ok(!list.allows('https://example.net'));
    assert.ok(!list.allows('https://evilexample.net'));
    assert.ok(!list.allows('https://a.example.net.evil.test'));
    assert.ok(!list.allows('https://*.example.net'));
  });

  test('null and garbage never match', () => {
    for (const origin of ['null', '', 'https://', 'app.example.org', 'https://app.example.org\r\nX: y']) assert.ok(!list.allows(origin), origin);
  });

  test('entries with a path, a bad wildcard or nothing at all are refused', () => {
    for (const bad of ['https://a.example/path', 'https://a.*.example', 'https://*', '', 'example.org']) assert.throws(() => OriginList.parse(bad), bad);
  });
});

describe('credential carriers', () => {
  const carriers = parseCarriers('header, query:access_token, cookie:session, subprotocol');

  test('the from grammar', () => {
    assert.deepEqual(parseCarriers('header'), [{ kind: 'authorization', scheme: 'Bearer' }]);
    for (const bad of ['headers', 'query:', 'cookie:a b', 'query:a&b', '']) assert.throws(() => parseCarriers(bad), bad);
  });

  test('each carrier yields its token, and the request keeps everything else', () => {
    const token = 'abc.DEF_ghi-123+/=';
    const full = request(`?a=1&access_token=${encodeURIComponent(token)}&b=2`, {
      authorization: `Bearer ${token}`,
      cookie: `theme=dark; session=${token}; lang=en`,
      'sec-websocket-protocol': `chat, ${SUBPROTOCOL_PREFIX}${Buffer.from(token).toString('base64url')}, mqtt`,
      'x-other': 'kept',
    });
    for (const carrier of carriers) assert.equal(takeCredential(full, carrier), token, carrier.kind);
    const stripped = withoutCredentials(full, carriers);
    assert.equal(stripped.search, '?a=1&b=2');
    assert.deepEqual(stripped.headers, [
      { name: 'cookie', value: 'theme=dark; lang=en' },
      { name: 'sec-websocket-protocol', value: 'chat, mqtt' },
      { name: 'x-other', value: 'kept' },
    ]);
  });

  test('headers left empty go; a Basic header stays when only Bearer is consumed', () => {
    const stripped = withoutCredentials(request('?access_token=x', { authorization: 'Basic dTpw', cookie: 'session=x', 'sec-websocket-protocol': `${SUBPROTOCOL_PREFIX}eA` }), carriers);
    assert.equal(stripped.search, '');
    assert.deepEqual(stripped.headers, [{ name: 'authorization', value: 'Basic dTpw' }]);
  });

  test('an unreadable subprotocol token or query value is there but empty', () => {
    const subprotocol = { kind: 'subprotocol' } as const;
    assert.equal(takeCredential(request('', { 'sec-websocket-protocol': `${SUBPROTOCOL_PREFIX}a+b` }), subprotocol), '');
    assert.equal(takeCredential(request('?access_token=%zz', {}), { kind: 'query', name: 'access_token' }), undefined);
    assert.equal(takeCredential(request('', {}), subprotocol), undefined);
  });
});

describe('bearer tokens', () => {
  const check = new BearerCheck([
    { token: 'first-token-0123456789', name: 'first' },
    { token: 'second-token-0123456789', name: null },
  ]);

  test('a listed token admits with its name; any other is unknown', () => {
    assert.deepEqual(check.verify('first-token-0123456789'), { method: 'bearer', user: 'first', claims: null });
    assert.deepEqual(check.verify('second-token-0123456789'), { method: 'bearer', user: null, claims: null });
    for (const wrong of ['first-token-012345678', 'first-token-01234567890', '', 'FIRST-token-0123456789']) {
      const outcome = check.verify(wrong);
      assert.ok(outcome instanceof AuthFailure && outcome.why === 'unknown token', wrong);
    }
  });
});

describe('a policy where no section admits', () => {
  const tokens = new AuthSection({
    name: 'tokens',
    origins: null,
    allowNoOrigin: true,
    credential: { check: new BearerCheck([{ token: 'first-token-0123456789', name: null }]), carriers: parseCarriers('header') },
    realm: 'r',
  });
  const browsers = new AuthSection({ name: 'browsers', origins: OriginList.parse('https://a.example'), allowNoOrigin: false, credential: null, realm: 'websocksy' });

  test('401 with the credential sections challenge when one of them failed, 403 when only origins did', () => {
    const both = new AuthPolicy([browsers, tokens]).admit(request('', { origin: 'https://evil.example' }));
    assert.ok(both instanceof Refusal);
    assert.equal(both.status, 401);
    assert.equal(both.headers['WWW-Authenticate'], 'Bearer realm="r"');
    assert.equal(both.detail, '[auth browsers] origin https://evil.example not allowed; [auth tokens] no token');
    const originOnly = new AuthPolicy([browsers]).admit(request('', {}));
    assert.ok(originOnly instanceof Refusal);
    assert.equal(originOnly.status, 403);
    assert.equal(originOnly.detail, '[auth browsers] no Origin header');
  });

  test('the first section that admits wins', () => {
    assert.deepEqual(new AuthPolicy([browsers, tokens]).admit(request('', { origin: 'https://a.example' })), { method: 'origin', user: null, claims: null });
  });
});

describe('basic, with a stand-in for the hash workers', () => {
  const HASH = `$2b$04$${'a'.repeat(53)}`;
  const credential = (user: string, password: string): string => Buffer.from(`${user}:${password}`).toString('base64');

  test('past the bound of waiting checks: 503 with Retry-After, and no check is queued', () => {
    let asked = 0;
    const check = new BasicCheck(new Map([['bea', HASH]]), {
      full: true,
      verify: () => {
        asked++;
        return Promise.resolve(true);
      },
    });
    const section = new AuthSection({ name: 'staff', origins: null, allowNoOrigin: true, credential: { check, carriers: [{ kind: 'authorization', scheme: 'Basic' }] }, realm: 'r' });
    const refusal = new AuthPolicy([section]).admit(request('', { authorization: `Basic ${credential('bea', 'pw')}` }));
    assert.ok(refusal instanceof Refusal);
    assert.equal(refusal.status, 503);
    assert.equal(refusal.headers['Retry-After'], '1');
    assert.equal(asked, 0);
  });

  test('a success is remembered; another password or a failing worker is not', async () => {
    const answers: Array<boolean | Error> = [true, false, new Error('worker gone')];
    const check = new BasicCheck(new Map([['bea', HASH]]), {
      full: false,
      verify: () => {
        const next = answers.shift();
        return next instanceof Error || next === undefined ? Promise.reject(next ?? new Error('asked too often')) : Promise.resolve(next);
      },
    });
    assert.deepEqual(await check.verify(credential('bea', 'right')), { method: 'basic', user: 'bea', claims: null });
    assert.deepEqual(check.verify(credential('bea', 'right')), { method: 'basic', user: 'bea', claims: null }, 'answered at once');
    const wrong = await check.verify(credential('bea', 'wrong'));
    assert.ok(wrong instanceof AuthFailure && wrong.why === 'wrong password for bea');
    const failed = await check.verify(credential('bea', 'other'));
    assert.ok(failed instanceof AuthFailure && failed.kind === 'busy');
    const malformed = check.verify('not base64!');
    assert.ok(malformed instanceof AuthFailure && malformed.why === 'malformed Basic credentials');
  });
});
