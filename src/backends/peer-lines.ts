/*
 * One line of a file-backend peer file:
 *   <peer> <subprotocol> [<framing>] [<framing-config…>]
 * Fields are separated by runs of spaces or tabs; the framing config is the rest of the line
 * and may itself contain spaces. Empty lines and `#` comments carry nothing. A peer ending in
 * `?resumable` may outlive its client (docs/sessions.md).
 */

export interface PeerLine {
  readonly peer: string;
  /** The subprotocol column: a protocol name, or `*` for the first offered one. */
  readonly protocol: string;
  readonly framing?: string;
  readonly framingConfig?: string;
  readonly resumable: boolean;
  readonly proxyProtocol?: 'v1' | 'v2';
}

export type ParsedLine =
  | { readonly kind: 'blank' }
  | { readonly kind: 'malformed'; readonly reason: string }
  | { readonly kind: 'peer'; readonly line: PeerLine };

const PEER_OPTIONS = new Set(['resumable', 'proxy-v1', 'proxy-v2']);

const FIELDS = /^([^ \t]+)(?:[ \t]+([^ \t]+)(?:[ \t]+([^ \t]+)(?:[ \t]+(.+))?)?)?$/s;

/** Splits `peer?opt&opt` when every option is known; otherwise the whole text is the peer. */
function peerOptions(peer: string): { address: string; options: string[] } {
  const mark = peer.lastIndexOf('?');
  if (mark < 0) return { address: peer, options: [] };
  const options = peer.slice(mark + 1).split('&');
  if (!options.every((option) => PEER_OPTIONS.has(option))) return { address: peer, options: [] };
  return { address: peer.slice(0, mark), options };
}

export function parsePeerLine(raw: string): ParsedLine {
  // CR from CRLF files, and blanks at either end, are not part of any field.
  const text = raw.replace(/^[ \t]+|[ \t\r\n]+$/g, '');
  if (text === '' || text.startsWith('#')) return { kind: 'blank' };
  const [, peer = '', protocol, framing, framingConfig] = FIELDS.exec(text) ?? [];
  if (protocol === undefined) {
    return { kind: 'malformed', reason: 'no subprotocol column after the peer (use * to accept any)' };
  }
  const { address, options } = peerOptions(peer);
  if (options.includes('proxy-v1') && options.includes('proxy-v2')) return { kind: 'malformed', reason: 'both proxy-v1 and proxy-v2' };
  const proxyProtocol = options.includes('proxy-v2') ? 'v2' : options.includes('proxy-v1') ? 'v1' : undefined;
  return {
    kind: 'peer',
    line: {
      peer: address,
      resumable: options.includes('resumable'),
      ...(proxyProtocol === undefined ? {} : { proxyProtocol }),
      protocol,
      ...(framing === undefined ? {} : { framing }),
      ...(framingConfig === undefined ? {} : { framingConfig }),
    },
  };
}
