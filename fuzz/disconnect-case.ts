/*
 * Abrupt disconnects at every stage of a connection: before a byte, mid request line, mid
 * headers, before the answer, mid body, before and right after the 101, mid frame header, mid
 * payload, after a close frame, mid response download, after a tunnel hello, with tunnel
 * streams or relayed messages in flight. Each cut is a FIN or an RST. The answer is the stage.
 */
import { FrameType, TUNNEL_SUBPROTOCOL } from '../src/tunnel/protocol.js';
import type { Random } from '../test/helpers/random.js';
import { wsPath, type CaseScope, type FuzzCase } from './fuzz-case.js';
import { delay, RawConnection } from './raw-connection.js';
import { baseDraft, plainDraft, render, upgradeDraft } from './request-draft.js';
import { PREFIX, type TargetName } from './target-paths.js';
import { tunnelFrame } from './tunnel-conversation.js';
import { hello } from './tunnel-script.js';
import { closePayload, clientFrame, encodeFrame, Opcode } from './ws-frame.js';

type Stage = (scope: CaseScope, target: TargetName) => Promise<RawConnection | null>;

const WEBSOCKETS: readonly TargetName[] = ['bridge', 'chat', 'tunnel'];

/** The request for `target`, and where inside it the request line and the headers end. */
function requestOf(target: TargetName, random: Random): { bytes: Buffer; lineEnd: number; headEnd: number } {
  const bytes = render(baseDraft(target, random));
  return { bytes, lineEnd: bytes.indexOf('\r\n'), headEnd: bytes.indexOf('\r\n\r\n') };
}

async function sendPrefix(scope: CaseScope, bytes: Buffer, length: number): Promise<RawConnection> {
  const connection = await scope.connect();
  connection.send(bytes.subarray(0, length));
  return connection;
}

async function websocket(scope: CaseScope, target: TargetName): Promise<RawConnection | null> {
  const { path, protocol } = wsPath(target, scope.random);
  const ws = await scope.upgrade(path, protocol);
  return ws instanceof RawConnection ? ws : null;
}

/** A stage reached by sending what `bytes` draws on a WebSocket after a good handshake. */
function afterUpgrade(bytes: (random: Random) => Buffer): Stage {
  return async (scope, target) => {
    const ws = await websocket(scope, target);
    ws?.send(bytes(scope.random));
    return ws;
  };
}

/** A tunnel connection that has sent its hello (the welcome may not have come yet). */
async function tunnelAfterHello(scope: CaseScope): Promise<RawConnection | null> {
  const ws = await scope.upgrade(PREFIX.tunnel, TUNNEL_SUBPROTOCOL);
  if (!(ws instanceof RawConnection)) return null;
  ws.send(clientFrame(Opcode.binary, hello(scope.targets.identity)));
  return ws;
}

const STAGES: Readonly<Record<string, { targets: readonly TargetName[]; reach: Stage }>> = {
  'before any byte': { targets: ['bridge', 'api', 'chat', 'tunnel'], reach: (scope) => scope.connect() },
  'mid request line': {
    targets: ['bridge', 'api', 'chat', 'tunnel'],
    reach: (scope, target) => {
      const request = requestOf(target, scope.random);
      return sendPrefix(scope, request.bytes, scope.random.int(1, request.lineEnd + 1));
    },
  },
  'mid headers': {
    targets: ['bridge', 'api', 'chat', 'tunnel'],
    reach: (scope, target) => {
      const request = requestOf(target, scope.random);
      return sendPrefix(scope, request.bytes, scope.random.int(request.lineEnd + 2, request.headEnd + 3));
    },
  },
  'before the answer': {
    targets: ['bridge', 'api', 'chat', 'tunnel'],
    reach: (scope, target) => {
      const request = requestOf(target, scope.random);
      return sendPrefix(scope, request.bytes, request.bytes.length);
    },
  },
  'mid body': {
    targets: ['api'],
    reach: async (scope) => {
      const draft = plainDraft(`${PREFIX.api}/upload`, scope.random);
      draft.method = 'POST';
      draft.lines = draft.lines.filter((line) => !line.startsWith('Content-Length'));
      const chunked = scope.random.chance(0.5);
      draft.lines.push(chunked ? 'Transfer-Encoding: chunked' : 'Content-Length: 100000');
      draft.body = chunked ? Buffer.from('1000\r\n' + 'b'.repeat(2000)) : Buffer.alloc(scope.random.int(0, 50_000), 0x62);
      const connection = await scope.connect();
      connection.send(render(draft));
      return connection;
    },
  },
  'before reading the 101': {
    targets: WEBSOCKETS,
    reach: async (scope, target) => {
      const { path, protocol } = wsPath(target, scope.random);
      const connection = await scope.connect();
      connection.send(render(upgradeDraft(path, scope.random, protocol)));
      return connection;
    },
  },
  'right after the 101': { targets: WEBSOCKETS, reach: websocket },
  'mid frame header': {
    targets: WEBSOCKETS,
    reach: afterUpgrade((random) => {
      const header = encodeFrame({ fin: true, rsv: 0, opcode: Opcode.binary, mask: random.bytes(4), payload: Buffer.alloc(0), encoding: random.pick(['7', '16', '64'] as const), declared: 200n });
      return header.subarray(0, random.int(1, header.length - 1));
    }),
  },
  'mid payload': {
    targets: WEBSOCKETS,
    reach: afterUpgrade((random) => {
      const frame = clientFrame(Opcode.binary, random.bytes(random.pick([100, 70_000])));
      return frame.subarray(0, random.int(15, frame.length - 1));
    }),
  },
  'after a close frame': { targets: WEBSOCKETS, reach: afterUpgrade(() => clientFrame(Opcode.close, closePayload(1000))) },
  'with messages in flight': {
    targets: ['bridge', 'chat'],
    reach: afterUpgrade((random) => Buffer.concat(Array.from({ length: random.int(1, 50) }, (_, i) => clientFrame(Opcode.binary, Buffer.alloc(random.pick([10, 1000, 60_000]), i))))),
  },
  'mid response': {
    targets: ['api'],
    reach: async (scope) => {
      const connection = await scope.connect();
      connection.send(`GET ${PREFIX.api}/download?bytes=${scope.random.pick([100_000, 5_000_000])} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await connection.waitForHead(2000);
      return connection;
    },
  },
  'after a tunnel hello': { targets: ['tunnel'], reach: tunnelAfterHello },
  'with tunnel streams open': {
    targets: ['tunnel'],
    reach: async (scope) => {
      const ws = await tunnelAfterHello(scope);
      if (ws === null) return null;
      for (let id = 1; id <= 2 * scope.random.int(1, 20); id += 2) {
        ws.send(clientFrame(Opcode.binary, tunnelFrame(FrameType.open, id, JSON.stringify({ host: '127.0.0.1', port: scope.targets.echoPort }))));
        ws.send(clientFrame(Opcode.binary, tunnelFrame(FrameType.data, id, Buffer.alloc(scope.random.pick([10, 30_000]), 0x74))));
      }
      await delay(scope.random.int(0, 30));
      return ws;
    },
  },
};

export function disconnectCase(random: Random): FuzzCase {
  const stage = random.pick(Object.keys(STAGES));
  const { targets, reach } = STAGES[stage] as { targets: readonly TargetName[]; reach: Stage };
  const target = random.pick(targets);
  const mode = random.pick<'fin' | 'reset'>(['fin', 'reset']);
  const pauseMs = random.pick([0, 0, 1, 5, 30]);
  return {
    kind: 'disconnect',
    target,
    input: `${stage}, then ${mode} after ${pauseMs} ms`,
    run: async (scope) => {
      const connection = await reach(scope, target);
      if (connection === null) return { answer: 'handshake refused' };
      await delay(pauseMs);
      const answered = connection.head !== null;
      connection.cut(mode);
      return { answer: `cut ${stage} (${mode})`, extras: { 'answered before the cut': answered ? 1 : 0 } };
    },
  };
}
