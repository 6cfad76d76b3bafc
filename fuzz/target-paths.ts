/*
 * The targets and where they live on websocksy's port; the upstream's base path, which no
 * request may escape, and the path only ever hidden in request bodies. Kept apart from
 * targets.ts so that the health thread can import it without starting anything.
 */
export type TargetName = 'bridge' | 'api' | 'chat' | 'tunnel' | 'session' | 'raw' | 'wsraw';
/** What handshake cases aim at (the scripted upstreams' routes are the upstream and wsupstream classes'). */
export const TARGETS: readonly TargetName[] = ['bridge', 'api', 'chat', 'tunnel', 'session'];

/** The path prefix of each target on the websocksy port; `session` is the bridge's session-path (its default). */
export const PREFIX: Readonly<Record<TargetName, string>> = { bridge: '/', api: '/api', chat: '/chat', tunnel: '/.tunnel', session: '/.websocksy/session', raw: '/raw', wsraw: '/wsraw' };
/** The upstream's base path: the route must never let a request out of it. */
export const UPSTREAM_BASE = '/v1';
/** A path only ever sent hidden in a request body: the upstream must never see it as a request. */
export const SMUGGLED_PATH = '/smuggled';
