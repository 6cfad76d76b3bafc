/*
 * The `[auth NAME]` sections (docs/auth.md): who may connect, referred to by `auth = NAME, ...`
 * in [core] (the bridge) and in [route /prefix]. Every file a section names (tokens, users,
 * keys) is read and checked here, at start: a plain-text password, a malformed token or key is
 * an error naming the file and line that hold it, and never showing the secret.
 *   type = bearer | basic | jwt | origin          required
 *   origins = https://app.example.org, ...        any type (required for origin)
 *   allow-no-origin = yes | no                    default yes, no for type = origin
 *   realm = TEXT                                  bearer, basic, jwt (default websocksy)
 *   tokens = FILE, token-env = VAR, from = ...    bearer
 *   users = FILE                                  basic
 *   algorithms, key | jwks, audience, issuer, leeway, from, user-claim, require-exp   jwt
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { BasicCheck, isPasswordHash } from '../auth/basic.js';
import { BearerCheck, MIN_TOKEN_LENGTH, TOKEN_SYNTAX, type NamedToken } from '../auth/bearer.js';
import { parseCarriers, type Carrier } from '../auth/carriers.js';
import { JWT_ALGORITHMS, JwtCheck, type JoseModule, type JwtAlgorithm } from '../auth/jwt.js';
import { OriginList } from '../auth/origins.js';
import type { CredentialCheck } from '../auth/outcome.js';
import { AuthPolicy } from '../auth/policy.js';
import { AuthSection } from '../auth/section.js';
import { errorCode, errorMessage } from '../lib/errors.js';
import { readSecretEnv } from '../lib/secret.js';
import { parseBoolean, parseSeconds } from '../lib/grammar.js';
import { ConfigError, pathFrom, SECTION_START, sectionOf, type Setting, type SettingOrigin } from './settings.js';

const TYPES = ['bearer', 'basic', 'jwt', 'origin'] as const;
type AuthType = (typeof TYPES)[number];

const COMMON_KEYS = ['type', 'origins', 'allow-no-origin'];
/** The keys of [auth NAME] by its type (besides type, origins and allow-no-origin), for its errors and websocksy --help. */
export const AUTH_KEYS: Readonly<Record<AuthType, readonly string[]>> = {
  bearer: ['realm', 'tokens', 'token-env', 'from'],
  basic: ['realm', 'users'],
  jwt: ['realm', 'algorithms', 'key', 'jwks', 'audience', 'issuer', 'leeway', 'from', 'user-claim', 'require-exp'],
  origin: [],
};
/** RFC 7518 §3.2: an HS256 key at least as long as the hash. */
const MIN_HMAC_SECRET = 32;
/** The key type (node:crypto's asymmetricKeyType) each asymmetric algorithm verifies with. */
const KEY_TYPES: Readonly<Record<Exclude<JwtAlgorithm, 'HS256'>, string>> = { RS256: 'rsa', ES256: 'ec', EdDSA: 'ed25519' };

interface Given {
  readonly value: string;
  readonly origin: SettingOrigin;
}

/** One section's keys, read before its type is known (type may come last). */
interface Draft {
  readonly name: string;
  readonly origin: SettingOrigin;
  readonly keys: Map<string, Given>;
}

/** A setting's line as an error's context. */
function fail(given: Given, key: string, message: string): never {
  throw new ConfigError(`${key}: ${message}`, given.origin);
}

function readText(given: Given, key: string): { path: string; text: string } {
  const path = pathFrom(given.origin, given.value.trim());
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (error) {
    return fail(given, key, `cannot read ${path}: ${errorCode(error)}`);
  }
}

/** The lines of a file that hold something: not empty, not a `#` comment. */
function contentLines(text: string): Array<{ line: number; text: string }> {
  return text.split(/\r?\n/).flatMap((raw, index) => {
    const line = raw.trim();
    return line === '' || line.startsWith('#') ? [] : [{ line: index + 1, text: line }];
  });
}

function checkToken(token: string, where: string): void {
  if (!TOKEN_SYNTAX.test(token)) throw new Error(`${where}: the token holds characters a bearer token cannot (RFC 6750: letters, digits, - . _ ~ + / and trailing =)`);
  if (token.length < MIN_TOKEN_LENGTH) throw new Error(`${where}: the token is shorter than ${MIN_TOKEN_LENGTH} characters, too short to be a secret`);
}

/** `TOKEN [NAME]` lines. */
function tokensFrom(given: Given): NamedToken[] {
  const { path, text } = readText(given, 'tokens');
  const tokens = contentLines(text).map(({ line, text: content }) => {
    const [token = '', name, extra] = content.split(/\s+/);
    try {
      if (extra !== undefined) throw new Error(`${path}:${line}: expected "TOKEN" or "TOKEN NAME"`);
      checkToken(token, `${path}:${line}`);
    } catch (error) {
      return fail(given, 'tokens', errorMessage(error));
    }
    return { token, name: name ?? null };
  });
  if (tokens.length === 0) fail(given, 'tokens', `${path} holds no token`);
  return tokens;
}

function tokenFromEnvironment(given: Given): NamedToken {
  const variable = given.value.trim();
  try {
    const token = readSecretEnv(variable);
    checkToken(token, `the environment variable ${variable}`);
    return { token, name: null };
  } catch (error) {
    return fail(given, 'token-env', errorMessage(error));
  }
}

/** `name:HASH` lines; the error for a bad line names the file and line, never the line's text. */
function usersFrom(given: Given): Map<string, string> {
  const { path, text } = readText(given, 'users');
  const users = new Map<string, string>();
  for (const { line, text: content } of contentLines(text)) {
    const colon = content.indexOf(':');
    const name = colon < 0 ? '' : content.slice(0, colon);
    const hash = content.slice(colon + 1);
    if (name === '') fail(given, 'users', `${path}:${line}: expected "name:HASH"`);
    if (!isPasswordHash(hash)) {
      fail(given, 'users', `${path}:${line}: the password of user ${name} is not a bcrypt ($2a$, $2b$, $2y$) or argon2 ($argon2id$, $argon2i$) hash; plain-text passwords are refused (make one with htpasswd -B)`);
    }
    if (users.has(name)) fail(given, 'users', `${path}:${line}: user ${name} appears twice`);
    users.set(name, hash);
  }
  if (users.size === 0) fail(given, 'users', `${path} holds no user`);
  return users;
}

function realmOf(draft: Draft): string {
  const given = draft.keys.get('realm');
  if (given === undefined) return 'websocksy';
  const realm = given.value.trim();
  if (!/^[\x20-\x7e]+$/.test(realm) || /["\\]/.test(realm)) fail(given, 'realm', 'a realm is printable ASCII without " or \\');
  return realm;
}

function carriersOf(draft: Draft): Carrier[] {
  const given = draft.keys.get('from');
  if (given === undefined) return [{ kind: 'authorization', scheme: 'Bearer' }];
  try {
    return parseCarriers(given.value);
  } catch (error) {
    return fail(given, 'from', errorMessage(error));
  }
}

function required(draft: Draft, key: string): Given {
  const given = draft.keys.get(key);
  if (given === undefined) throw new ConfigError(`[auth ${draft.name}] needs ${key}`, draft.origin);
  return given;
}

function algorithmsOf(given: Given): JwtAlgorithm[] {
  const names = given.value.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) fail(given, 'algorithms', 'the list is empty');
  for (const name of names) {
    if (!(JWT_ALGORITHMS as readonly string[]).includes(name)) fail(given, 'algorithms', `"${name}" is not one of ${JWT_ALGORITHMS.join(', ')}`);
  }
  return names as JwtAlgorithm[];
}

/** A PEM public key for the asymmetric algorithms, or the HS256 secret; never both from one file. */
function keyFrom(given: Given, algorithms: readonly JwtAlgorithm[]): KeyObject | Uint8Array {
  const { path, text } = readText(given, 'key');
  if (text.trimStart().startsWith('-----BEGIN')) {
    // With HS256 allowed, a token signed with this public key as its secret would pass.
    if (algorithms.includes('HS256')) fail(given, 'key', `${path} is a PEM key, which is no HS256 secret: list only RS256, ES256, EdDSA with it`);
    let key: KeyObject;
    try {
      key = createPublicKey(text);
      if (key.type !== 'public') throw new Error('not a public key');
    } catch (error) {
      return fail(given, 'key', `${path} is not a PEM public key: ${errorMessage(error)}`);
    }
    // ES256 is P-256 only.
    const type = key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1' ? 'ec (not P-256)' : (key.asymmetricKeyType ?? 'unknown');
    if (!algorithms.some((algorithm) => algorithm !== 'HS256' && KEY_TYPES[algorithm] === type)) fail(given, 'key', `${path} is a key of type ${type}, which none of ${algorithms.join(', ')} verifies with`);
    return key;
  }
  if (algorithms.some((algorithm) => algorithm !== 'HS256')) fail(given, 'key', `${path} is not a PEM public key, as ${algorithms.join(', ')} need (an HS256 secret goes with algorithms = HS256 alone)`);
  const secret = Buffer.from(text.replace(/\r?\n$/, ''), 'utf8');
  if (secret.length < MIN_HMAC_SECRET) fail(given, 'key', `${path}: an HS256 secret needs at least ${MIN_HMAC_SECRET} bytes`);
  return new Uint8Array(secret);
}

function jwksFrom(given: Given, jose: JoseModule): JWTVerifyGetKey {
  const { path, text } = readText(given, 'jwks');
  try {
    const set: unknown = JSON.parse(text);
    if (typeof set !== 'object' || set === null || !Array.isArray((set as { keys?: unknown }).keys)) throw new Error('no "keys" array');
    return jose.createLocalJWKSet(set as JSONWebKeySet);
  } catch (error) {
    return fail(given, 'jwks', `${path} is not a JWKS file: ${errorMessage(error)}`);
  }
}

function jwtCheck(draft: Draft, jose: JoseModule): JwtCheck {
  const algorithms = algorithmsOf(required(draft, 'algorithms'));
  const keyGiven = draft.keys.get('key');
  const jwksGiven = draft.keys.get('jwks');
  if ((keyGiven === undefined) === (jwksGiven === undefined)) throw new ConfigError(`[auth ${draft.name}] needs one of key and jwks`, draft.origin);
  const key = keyGiven !== undefined ? keyFrom(keyGiven, algorithms) : jwksFrom(jwksGiven as Given, jose);
  const text = (key: string): string | null => {
    const value = draft.keys.get(key)?.value.trim();
    return value === undefined || value === '' ? null : value;
  };
  const leeway = draft.keys.get('leeway');
  const requireExp = draft.keys.get('require-exp');
  const settings = {
    algorithms,
    key,
    audience: text('audience'),
    issuer: text('issuer'),
    leewaySeconds: leeway === undefined ? 30 : valueOf(leeway, 'leeway', (value) => parseSeconds(value, 0, 86400)),
    userClaim: text('user-claim') ?? 'sub',
    requireExp: requireExp === undefined ? true : valueOf(requireExp, 'require-exp', parseBoolean),
  };
  return new JwtCheck(settings, jose);
}

function valueOf<T>(given: Given, key: string, parse: (value: string) => T): T {
  try {
    return parse(given.value);
  } catch (error) {
    return fail(given, key, errorMessage(error));
  }
}

function credentialOf(draft: Draft, type: AuthType, jose: JoseModule | null): { check: CredentialCheck; carriers: readonly Carrier[] } | null {
  if (type === 'origin') return null;
  if (type === 'basic') return { check: new BasicCheck(usersFrom(required(draft, 'users'))), carriers: [{ kind: 'authorization', scheme: 'Basic' }] };
  if (type === 'jwt') {
    if (jose === null) throw new Error(`[auth ${draft.name}]: a type = jwt section was built without jose (usesJwt() said no)`);
    return { check: jwtCheck(draft, jose), carriers: carriersOf(draft) };
  }
  const tokens: NamedToken[] = [];
  const file = draft.keys.get('tokens');
  const variable = draft.keys.get('token-env');
  if (file === undefined && variable === undefined) throw new ConfigError(`[auth ${draft.name}] needs tokens = FILE or token-env = VARIABLE`, draft.origin);
  if (file !== undefined) tokens.push(...tokensFrom(file));
  if (variable !== undefined) tokens.push(tokenFromEnvironment(variable));
  return { check: new BearerCheck(tokens), carriers: carriersOf(draft) };
}

function finish(draft: Draft, jose: JoseModule | null): AuthSection {
  const typeGiven = required(draft, 'type');
  const type = typeGiven.value.trim() as AuthType;
  if (!TYPES.includes(type)) fail(typeGiven, 'type', `"${typeGiven.value}" is not one of ${TYPES.join(', ')}`);
  for (const [key, given] of draft.keys) {
    if (!COMMON_KEYS.includes(key) && !AUTH_KEYS[type].includes(key)) fail(given, key, `unknown key for type = ${type} (known: ${[...COMMON_KEYS, ...AUTH_KEYS[type]].join(', ')})`);
  }
  const originsGiven = type === 'origin' ? required(draft, 'origins') : draft.keys.get('origins');
  const origins = originsGiven === undefined ? null : valueOf(originsGiven, 'origins', OriginList.parse);
  const noOrigin = draft.keys.get('allow-no-origin');
  return new AuthSection({
    name: draft.name,
    origins,
    allowNoOrigin: noOrigin === undefined ? type !== 'origin' : valueOf(noOrigin, 'allow-no-origin', parseBoolean),
    credential: credentialOf(draft, type, jose),
    realm: realmOf(draft),
  });
}

export type AuthSections = ReadonlyMap<string, AuthSection>;

/** True when an `[auth NAME]` section has `type = jwt`: jose must be loaded (loadJose) to build it. */
export function usesJwt(settings: readonly Setting[]): boolean {
  return settings.some(({ scope, key, value }) => scope === 'auth' && key === 'type' && value.trim() === 'jwt');
}

/** Every `[auth NAME]` section, built and checked; `jose` is needed where usesJwt(). */
export function buildAuthSections(settings: readonly Setting[], jose: JoseModule | null): AuthSections {
  const drafts = new Map<string, Draft>();
  for (const { scope, key, value, origin } of settings) {
    if (scope !== 'auth') continue;
    const name = sectionOf(origin).replace(/^auth\s+/, '');
    let draft = drafts.get(name);
    if (draft === undefined) {
      draft = { name, origin, keys: new Map() };
      drafts.set(name, draft);
    }
    if (key === SECTION_START) continue;
    if (draft.keys.has(key)) throw new ConfigError(`${key}: given twice in this section`, origin);
    draft.keys.set(key, { value, origin });
  }
  return new Map([...drafts].map(([name, draft]) => [name, finish(draft, jose)]));
}

/** `NAME, NAME` as an `auth` key gives it; throws an Error saying what is wrong. */
export function parseAuthNames(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => !/^[\w.-]+$/.test(name))) throw new Error(`"${value}" is not a list of [auth NAME] section names`);
  return names;
}

/** The policy `names` (from `auth = ...` at `origin`) make; a name without its section is an error at that line. */
export function authPolicyOf(names: readonly string[], origin: SettingOrigin, sections: AuthSections): AuthPolicy {
  return new AuthPolicy(
    names.map((name) => {
      const section = sections.get(name);
      if (section === undefined) throw new ConfigError(`auth: there is no [auth ${name}] section`, origin);
      return section;
    }),
  );
}
