/*
 * What the front tells the metrics (src/metrics/): each WebSocket handshake it refuses, and
 * each request an HTTP route serves, whose observer hears the answer's status.
 */
import type { Refusal } from '../core/refusal.js';
import type { AnswerObserver } from '../core/request.js';

export interface FrontObserver {
  /** A WebSocket upgrade was answered with `refusal` instead of 101. */
  refused(refusal: Refusal): void;
  /** A plain request for the route at `prefix` arrives now; the observer hears its status. */
  routeRequest(prefix: string): AnswerObserver;
}
