/*
 * Side-by-side runs repeated in rounds (a, b, a, b, ...): each round's ratio of b to a, shown as
 * the range over the rounds, so the machine's noise shows instead of one lucky figure.
 */

/** `low–high` to two decimals, or one figure when they agree. */
export function range(values: readonly number[]): string {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low.toFixed(2) === high.toFixed(2) ? low.toFixed(2) : `${low.toFixed(2)}–${high.toFixed(2)}`;
}

/** The range over the rounds of pick(figure of `top`) ÷ pick(figure of `bottom`) in the same round. */
export function roundRatios<F extends { readonly round: number }>(figures: readonly F[], top: (f: F) => boolean, bottom: (f: F) => boolean, pick: (f: F) => number): string {
  const values: number[] = [];
  for (const over of figures.filter(top)) {
    const under = figures.find((f) => bottom(f) && f.round === over.round);
    if (under !== undefined) values.push(pick(over) / pick(under));
  }
  return range(values);
}
