/*
 * Metrics whose values live elsewhere, in plain numbers the server keeps for its own use (a
 * bridge's byte counts, the admission's refusals, the tunnel sessions' streams): prom-client
 * reads them when Prometheus scrapes, so the code that keeps them never calls prom-client.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** One labelled value as read now: label values in the order of the metric's label names. */
export type Reading = readonly [labels: readonly string[], value: number];

interface Definition {
  readonly registry: Registry;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Every value as it is now; read at each scrape. */
  readonly read: () => Iterable<Reading>;
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  names.forEach((name, i) => (labels[name] = values[i] ?? ''));
  return labels;
}

/**
 * A counter read from running totals. Only the increase since the last scrape is added, and a
 * total that went down (a bridge's bytes taken back when a held message was dropped at its
 * close) is not followed: a Prometheus counter that drops reads as a restart.
 */
export function scrapedCounter(definition: Definition): Counter {
  const { registry, name, help, labelNames, read } = definition;
  const reported = new Map<string, number>();
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter) {
      for (const [values, value] of read()) {
        const key = values.join('\0');
        const last = reported.get(key) ?? 0;
        // inc(0) makes the series appear from the first scrape on, at 0.
        if (value > last || !reported.has(key)) this.inc(labelsOf(labelNames, values), Math.max(0, value - last));
        reported.set(key, Math.max(last, value));
      }
    },
  });
}

/** A gauge read as it is now; a label set no longer read disappears from the exposition. */
export function scrapedGauge(definition: Definition): Gauge {
  const { registry, name, help, labelNames, read } = definition;
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Gauge) {
      this.reset();
      for (const [values, value] of read()) this.set(labelsOf(labelNames, values), value);
    },
  });
}
