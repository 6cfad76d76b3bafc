/*
 * Which of the client's offered subprotocols a backend answers with. Both builtin backends
 * read `*` as "the first offered"; they differ in case sensitivity, as in websocksy:
 * defaultpeer compares like strcasecmp, the file backend compares exactly.
 */
export type ProtocolComparison = 'exact' | 'ignore-case';

/** Index in `offered` of `wanted` (`*` = the first offered); undefined when it was not offered. */
export function offeredIndex(offered: readonly string[], wanted: string, comparison: ProtocolComparison): number | undefined {
  if (wanted === '*') return offered.length > 0 ? 0 : undefined;
  // Subprotocols are RFC 7230 tokens (ASCII), so lower-casing is strcasecmp's comparison.
  const lower = wanted.toLowerCase();
  const index =
    comparison === 'exact' ? offered.indexOf(wanted) : offered.findIndex((protocol) => protocol.toLowerCase() === lower);
  return index < 0 ? undefined : index;
}
