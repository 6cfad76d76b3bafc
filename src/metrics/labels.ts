/*
 * Label values that stay bounded whatever a client sends: a close code or an HTTP status is a
 * number the other side may choose, so each is kept to a fixed set of values. Client addresses,
 * request paths and anything else a client spells are never label values (docs/operations.md).
 * Each value's child of a metric is made once and kept (childFor).
 */

/**
 * RFC 6455's codes (1000–1015) as they are; the ranges libraries (3000–3999) and applications
 * (4000–4999) may use, as one value each; 'other' for anything else.
 */
export function closeCodeLabel(code: number): string {
  if (code >= 1000 && code <= 1015) return String(code);
  if (code >= 3000 && code <= 3999) return '3xxx';
  if (code >= 4000 && code <= 4999) return '4xxx';
  return 'other';
}

/** An HTTP status as its three digits (at most 500 values), 'other' for anything that is not one. */
export function statusLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'other';
}

/**
 * `labels`' child of a metric, made once per label value and kept: the per-connection paths
 * then pay a map lookup, not prom-client's label hashing. `values` is bounded by the label rules.
 */
export function childFor<C>(children: Map<string, C>, value: string, make: (value: string) => C): C {
  let child = children.get(value);
  if (child === undefined) {
    child = make(value);
    children.set(value, child);
  }
  return child;
}
