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
}

export type ParsedLine =
  | { readonly kind: 'blank' }
  | { readonly kind: 'malformed'; readonly reason: string }
  | { readonly kind: 'peer'; readonly line: PeerLine };

const RESUMABLE = '?resumable';

const FIELDS = /^([^ \t]+)(?:[ \t]+([^ \t]+)(?:[ \t]+([^ \t]+)(?:[ \t]+(.+))?)?)?$/s;

export function parsePeerLine(raw: string): ParsedLine {
  // CR from CRLF files, and blanks at either end, are not part of any field.
  const text = raw.replace(/^[ \t]+|[ \t\r\n]+$/g, '');
  if (text === '' || text.startsWith('#')) return { kind: 'blank' };
  const [, peer = '', protocol, framing, framingConfig] = FIELDS.exec(text) ?? [];
  if (protocol === undefined) {
    return { kind: 'malformed', reason: 'no subprotocol column after the peer (use * to accept any)' };
  }
  const resumable = peer.endsWith(RESUMABLE);
  return {
    kind: 'peer',
    line: {
      peer: resumable ? peer.slice(0, -RESUMABLE.length) : peer,
      resumable,
      protocol,
      ...(framing === undefined ? {} : { framing }),
      ...(framingConfig === undefined ? {} : { framingConfig }),
    },
  };
}
