/*
 * What a route module learns of a request or an upgrade on its prefix (RouteRequestHead): the
 * front's checked ClientRequest, with the part of the path after the prefix and the query
 * without its `?`, as plain data the module may keep.
 */
import type { RouteRequestHead } from '../core/route-api.js';
import { headerValue, type ClientRequest } from '../core/request.js';
import { restOf, type Route } from './route-table.js';

export function requestHead(route: Route, request: ClientRequest): RouteRequestHead {
  return {
    id: request.id,
    method: request.method,
    path: request.path,
    rest: restOf(route, request.path),
    query: request.search.slice(1),
    headers: request.headers,
    clientAddress: request.clientAddress,
    ...(request.auth === undefined ? {} : { auth: request.auth }),
    header: (name: string) => headerValue(request, name.toLowerCase()),
  };
}
