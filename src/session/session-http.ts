/*
 * The session path over plain HTTP (docs/sessions.md "HTTP transport"):
 *   GET    <path>/<id>/poll?received=N&wait=S   output after data offset N
 *   POST   <path>/<id>/send?offset=N            input records, the first data byte at offset N
 *   DELETE <path>/<id>                          ends the session
 * Each carries `Authorization: Bearer <secret>`; `Websocksy-Takeover: 1` takes the session from
 * an attached WebSocket. Refusals are the resume answers as HTTP statuses, with a JSON body.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { Refusal } from '../core/refusal.js';
import { addressFields, headerValue, type ClientRequest } from '../core/request.js';
import { ClientResponse } from '../http/client-response.js';
import { relayHttpToSibling } from '../http/sibling-http.js';
import { log } from '../lib/log.js';
import { HttpPoller } from './http-poller.js';
import { forEachHttpRecord, httpRecordHeader, isDataRecord, readAck, RecordError, RecordType } from './records.js';
import { ResumeRefusal } from './resume-refusal.js';
import type { Session } from './session.js';
import type { SessionStore } from './session-store.js';

const DEFAULT_WAIT_S = 25;
/** A node's map of the cluster is believed again within a third of the TTL of Redis's return. */
const RETRY_UNAVAILABLE_S = 1;
const MAX_WAIT_S = 30;
/** Room for record headers and control records beside a full window of data. */
const BODY_OVERHEAD = 64 * 1024;

type Action = 'poll' | 'send' | 'end';

/** `<path>/<id>/poll` and friends: the session id and what is asked, or null. */
function parseTarget(request: ClientRequest, base: string): { id: string; action: Action } | null {
  const rest = request.path.slice(base.length + 1).split('/');
  const [id, verb] = rest;
  if (id === undefined || id === '' || rest.length > 2) return null;
  if (verb === 'poll' && request.method === 'GET') return { id, action: 'poll' };
  if (verb === 'send' && request.method === 'POST') return { id, action: 'send' };
  if (verb === undefined && request.method === 'DELETE') return { id, action: 'end' };
  return null;
}

/** A count from the query string: digits only, a safe integer. */
function queryCount(request: ClientRequest, name: string): number | null {
  const value = new URLSearchParams(request.search).get(name);
  if (value === null || !/^\d{1,16}$/.test(value)) return null;
  const count = Number(value);
  return Number.isSafeInteger(count) ? count : null;
}

function bearerSecret(request: ClientRequest): string | null {
  const header = headerValue(request, 'authorization');
  const match = header === undefined ? null : /^Bearer[ \t]+(\S+)$/i.exec(header);
  return match?.[1] ?? null;
}

function refuseResume(response: ClientResponse, request: ClientRequest, refusal: ResumeRefusal): void {
  log.info('session request refused', { id: request.id, ...addressFields(request), method: request.method, status: refusal.httpStatus, why: refusal.message });
  if (!response.usable) return;
  const body = JSON.stringify({ error: refusal.error, message: refusal.message });
  const retry = refusal.error === 'unavailable' ? { 'Retry-After': String(RETRY_UNAVAILABLE_S) } : {};
  response.refuse(new Refusal(refusal.refusalReason, refusal.httpStatus, body, refusal.message, { 'Cache-Control': 'no-store', ...retry }));
}

/** The poller attached to `session`, attaching one (from the client's `received`) when none is. */
function pollerOf(session: Session, received: number): HttpPoller {
  const attached = session.attached;
  if (attached instanceof HttpPoller) return attached;
  const poller = new HttpPoller(session);
  session.attach(poller, received, null);
  return poller;
}

export function serveSessionHttp(res: HttpResponse, request: ClientRequest, sessions: SessionStore): void {
  const target = parseTarget(request, sessions.settings.path);
  const sibling = target === null ? null : sessions.siblingHolding(target.id);
  if (sibling instanceof ResumeRefusal) {
    refuseResume(ClientResponse.answering(res, request), request, sibling);
    return;
  }
  if (sibling !== null) {
    relayHttpToSibling(res, request, sibling);
    return;
  }
  const response = ClientResponse.answering(res, request);
  if (target === null) {
    response.refuse(new Refusal('not-found', 404, 'Not found: see docs/sessions.md for the session requests', `no session request ${request.method} ${request.path}`));
    return;
  }
  const found = sessions.authorize(target.id, bearerSecret(request) ?? '', headerValue(request, 'websocksy-takeover') === '1', 'http');
  if (found instanceof ResumeRefusal) {
    refuseResume(response, request, found);
    return;
  }
  if (target.action === 'end') {
    found.endByClient();
    response.fail('200 OK', 'Session ended');
    return;
  }
  if (target.action === 'poll') {
    const received = queryCount(request, 'received');
    if (received === null || !found.log.canAck(received)) {
      refuseResume(response, request, new ResumeRefusal('bad-hello', `received ${received ?? 'missing'}: ${found.log.acked} to ${found.log.sent} bytes were possible`));
      return;
    }
    const wait = queryCount(request, 'wait') ?? DEFAULT_WAIT_S;
    const poller = pollerOf(found, received);
    found.acknowledge(received);
    poller.poll(response, received, Math.min(wait, MAX_WAIT_S) * 1000);
    return;
  }
  const offset = queryCount(request, 'offset');
  if (offset === null || offset > found.received) {
    refuseResume(response, request, new ResumeRefusal('bad-hello', `offset ${offset ?? 'missing'}: the session has ${found.received} bytes from this client`));
    return;
  }
  pollerOf(found, found.log.acked).touch();
  readBody(response, found.window + BODY_OVERHEAD, (body) => {
    if (found.finished) {
      refuseResume(response, request, new ResumeRefusal('no-session', 'the session ended'));
      return;
    }
    try {
      takeRecords(found, body, offset);
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      refuseResume(response, request, new ResumeRefusal('bad-hello', error.message));
      return;
    }
    const ack = found.ackForPoll();
    const answer = Buffer.concat([httpRecordHeader(ack), ack.subarray(1)]);
    response.ended = true;
    res.cork(() => res.writeStatus('200 OK').writeHeader('Content-Type', 'application/octet-stream').writeHeader('Cache-Control', 'no-store').end(answer));
  });
}

interface PostedRecord {
  readonly type: number;
  readonly body: Buffer;
  /** For data: false when the session has it already (a retried POST), so it is skipped. */
  readonly taken: boolean;
}

/**
 * A POST's records, every one checked before any is taken: a body is taken whole or refused
 * (a client told 400 must be able to rely on nothing having reached the peer). Throws
 * RecordError for a record cut off, of a type a client does not send here, an ACK the session
 * could not take, or a message that does not continue the session's count.
 */
function checkRecords(session: Session, body: Buffer, offset: number): PostedRecord[] {
  const records: PostedRecord[] = [];
  let cursor = offset;
  let received = session.received;
  let acked = session.log.acked;
  forEachHttpRecord(body, (type, record) => {
    let taken = true;
    if (isDataRecord(type)) {
      taken = session.continuesData(cursor, record.length, received);
      cursor += record.length;
      if (taken) received = cursor;
    } else if (type === RecordType.ack) {
      const count = readAck(record);
      if (count === null || !session.log.canAck(count) || count < acked) throw new RecordError(`ACK of ${count ?? 'a malformed count'}: ${acked} to ${session.log.sent} bytes were possible`);
      acked = count;
    } else if (type !== RecordType.end) throw new RecordError(`record type ${type} is not one a client sends here`);
    records.push({ type, body: record, taken });
  });
  return records;
}

/** Applies a POST's records, checked first. */
function takeRecords(session: Session, body: Buffer, offset: number): void {
  for (const { type, body: record, taken } of checkRecords(session, body, offset)) if (taken) session.onClientRecord(type, record);
}

/** Reads the whole request body (up to `limit` bytes; more gets 413), then calls `done`. */
function readBody(response: ClientResponse, limit: number, done: (body: Buffer) => void): void {
  if (!response.bodyPending) {
    done(Buffer.alloc(0));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  response.onBody((chunk, isLast) => {
    if (!tooLarge) {
      size += chunk.byteLength;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
      } else chunks.push(Buffer.from(new Uint8Array(chunk)));
    }
    if (!isLast) return;
    if (tooLarge) response.refuse(new Refusal('too-large', 413, `A POST carries at most ${limit} bytes`, `session POST over ${limit} bytes`));
    else done(Buffer.concat(chunks, size));
  });
}
