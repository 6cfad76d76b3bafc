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

/** The middle value of `values` (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** pick(figure of `top`) ÷ pick(figure of `bottom`) in the same round, one value per round both ran in. */
export function roundRatioValues<F extends { readonly round?: number }>(figures: readonly F[], top: (f: F) => boolean, bottom: (f: F) => boolean, pick: (f: F) => number): number[] {
  const values: number[] = [];
  for (const over of figures.filter(top)) {
    const under = figures.find((f) => bottom(f) && f.round === over.round);
    if (under !== undefined) values.push(pick(over) / pick(under));
  }
  return values;
}

/** The range over the rounds of pick(figure of `top`) ÷ pick(figure of `bottom`) in the same round. */
export function roundRatios<F extends { readonly round: number }>(figures: readonly F[], top: (f: F) => boolean, bottom: (f: F) => boolean, pick: (f: F) => number): string {
  return range(roundRatioValues(figures, top, bottom, pick));
}
