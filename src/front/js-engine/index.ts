/*
 * websocksy's own JS engine: the part of uWebSockets.js's API that websocksy uses (front/,
 * http/, tunnel/, session/), on node:http(s) and the `ws` package, for where no native uWS
 * build loads (docs/engine.md). front/engine.ts loads it instead of the native module; its
 * shape is uWS's module object, so the rest of websocksy does not know which one runs.
 */
export { App, DISABLED, SSLApp } from './app.js';
export { closeListenSocket as us_listen_socket_close, localPort as us_socket_local_port } from './listener.js';
