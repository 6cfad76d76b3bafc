/*
 * websocksy/client: ResumableSocket and the types an application sees. This file is the entry
 * of the package export and of the browser build (dist/client/websocksy-client.js); everything
 * it reaches is in this folder and uses only web-standard APIs.
 */
export { ResumableSocket } from './resumable-socket.js';
export type { ResumableSocketOptions, TransportChoice } from './options.js';
export { DetachEvent, ResumeEvent, type DetachDetail, type ResumeDetail, type SocketCloseEvent, type TransportKind } from './events.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket-like.js';
export type { FetchLike } from './fetch-like.js';
