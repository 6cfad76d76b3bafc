/*
 * Picks the peer from the text of one peer file, with websocksy's matching rules:
 * - the client offered subprotocols: the first line whose column names one of them exactly
 *   (case-sensitive), or is `*` (= the first offered), wins and answers with that protocol;
 * - the client offered none: the first line wins, whatever its column, and answers none.
 * Malformed lines are skipped with a warning naming file and line, where websocksy crashed.
 */
import type { BackendHost, PeerInfo } from '../core/api.js';
import { errorMessage } from '../lib/errors.js';
import { parsePeerLine, type PeerLine } from './peer-lines.js';
import { offeredIndex } from './protocol.js';

/** Why the line's framing cannot be used, or undefined when it can. */
function framingProblem(line: PeerLine, host: BackendHost): string | undefined {
  if (line.framing === undefined) return undefined;
  const definition = host.framing(line.framing);
  if (definition === undefined) return `unknown framing "${line.framing}"`;
  try {
    definition.checkConfig?.(line.framingConfig ?? null);
    return undefined;
  } catch (error) {
    return `framing "${line.framing}" rejects its config: ${errorMessage(error)}`;
  }
}

function peerInfo(line: PeerLine, protocol: number | undefined): PeerInfo {
  return {
    host: line.peer,
    ...(line.framing === undefined ? {} : { framing: line.framing }),
    ...(line.framingConfig === undefined ? {} : { framingConfig: line.framingConfig }),
    ...(protocol === undefined ? {} : { protocol }),
    ...(line.resumable ? { resumable: true } : {}),
    ...(line.proxyProtocol === undefined ? {} : { proxyProtocol: line.proxyProtocol }),
  };
}

/** The first matching line as a PeerInfo, or null when no line matches `offered`. */
export function findPeer(text: string, file: string, offered: readonly string[], host: BackendHost): PeerInfo | null {
  for (const [index, raw] of text.split('\n').entries()) {
    const skip = (reason: string): void => host.warn(`${file}:${index + 1}: line skipped: ${reason}`);
    const parsed = parsePeerLine(raw);
    if (parsed.kind === 'blank') continue;
    if (parsed.kind === 'malformed') {
      skip(parsed.reason);
      continue;
    }
    const problem = framingProblem(parsed.line, host);
    if (problem !== undefined) {
      skip(problem);
      continue;
    }
    if (offered.length === 0) return peerInfo(parsed.line, undefined);
    const protocol = offeredIndex(offered, parsed.line.protocol, 'exact');
    if (protocol !== undefined) return peerInfo(parsed.line, protocol);
  }
  return null;
}
