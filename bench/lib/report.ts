/*
 * Turns measurements into the markdown report: one table per workload, websocksy's ratio to each
 * anchor from the same run, and the targets of the benchmark issue checked against them.
 */
import type { LoadgenResult } from './loadgen.js';
import { median, roundRatioValues } from './rounds.js';
import type { Subject } from './subjects.js';

export interface Measurement {
  readonly subject: string;
  readonly workload: 'throughput' | 'latency' | 'connrate' | 'framing' | 'idle';
  readonly key: string;
  readonly result: LoadgenResult;
  /** CPU seconds the subject's processes used during the run. */
  readonly cpuSeconds: number;
  /** The round of a workload measured in several (framing): ratios are taken within a round. */
  readonly round?: number;
}

const MAIN = 'websocksy';

function num(result: LoadgenResult, field: string): number {
  const value = result[field];
  return typeof value === 'number' ? value : NaN;
}

/** CPU seconds per GB of payload echoed (each byte crosses the bridge once each way). */
function cpuPerGB(m: Measurement): number {
  return m.cpuSeconds / (num(m.result, 'bytes') / 1e9);
}

/** CPU seconds per million messages echoed. */
function cpuPerMmsg(m: Measurement): number {
  return m.cpuSeconds / (num(m.result, 'messages') / 1e6);
}

function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function find(all: readonly Measurement[], subject: string, workload: string, key: string): Measurement | undefined {
  return all.find((m) => m.subject === subject && m.workload === workload && m.key === key);
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n') + '\n';
}

function throughputSection(all: readonly Measurement[], anchors: readonly string[]): string {
  const keys = [...new Set(all.filter((m) => m.workload === 'throughput').map((m) => m.key))];
  const rows: string[][] = [];
  for (const key of keys) {
    for (const m of all.filter((x) => x.workload === 'throughput' && x.key === key)) {
      const ratios = anchors.map((anchor) => {
        const other = find(all, anchor, 'throughput', key);
        if (m.subject !== MAIN || other === undefined) return '';
        return `${fixed(cpuPerGB(m) / cpuPerGB(other))} / ${fixed(cpuPerMmsg(m) / cpuPerMmsg(other))}`;
      });
      rows.push([
        key.replace('x', ' × ') + ' B',
        m.subject,
        fixed(num(m.result, 'msgs_per_s'), 0),
        fixed(num(m.result, 'mb_per_s'), 1),
        fixed(m.cpuSeconds),
        fixed(cpuPerGB(m)),
        fixed(cpuPerMmsg(m)),
        ...ratios,
      ]);
    }
  }
  return table(
    ['conns × size', 'bridge', 'msgs/s', 'MB/s', 'CPU s', 'CPU s/GB', 'CPU s/Mmsg', ...anchors.map((a) => `websocksy ÷ ${a} (GB / Mmsg)`)],
    rows,
  );
}

function latencySection(all: readonly Measurement[]): string {
  const rows = all
    .filter((m) => m.workload === 'latency')
    .map((m) => [m.subject, ...['p50_us', 'p90_us', 'p99_us', 'max_us'].map((f) => fixed(num(m.result, f), 0))]);
  return table(['bridge', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs'], rows);
}

function connrateSection(all: readonly Measurement[]): string {
  const rows = all
    .filter((m) => m.workload === 'connrate')
    .map((m) => [
      m.subject,
      fixed(num(m.result, 'conns_per_s'), 0),
      String(num(m.result, 'failures')),
      fixed((m.cpuSeconds / num(m.result, 'connections')) * 1e6, 0),
    ]);
  return table(['bridge', 'conn/s (8 parallel)', 'failures', 'CPU µs/conn'], rows);
}

function idleRssPerConnection(m: Measurement): number {
  return (num(m.result, 'loaded_rss') - num(m.result, 'baseline_rss')) / num(m.result, 'open');
}

function idleSection(all: readonly Measurement[]): string {
  const rows = all
    .filter((m) => m.workload === 'idle')
    .map((m) => [
      m.subject,
      String(num(m.result, 'open')),
      fixed(num(m.result, 'baseline_rss') / 1048576, 1),
      fixed(num(m.result, 'loaded_rss') / 1048576, 1),
      fixed(idleRssPerConnection(m) / 1024, 2),
    ]);
  return table(['bridge', 'idle bridged connections', 'RSS before MiB', 'RSS after MiB', 'KiB per connection'], rows);
}

/** `subject`'s framing CPU/GB ÷ `base`'s, one ratio per round both ran in. */
function framingRatios(all: readonly Measurement[], subject: string, base: string): number[] {
  const framing = all.filter((m) => m.workload === 'framing');
  return roundRatioValues(framing, (m) => m.subject === subject, (m) => m.subject === base, cpuPerGB);
}

function framingSection(all: readonly Measurement[]): string {
  const framing = all.filter((m) => m.workload === 'framing');
  const rows = framing.map((m) => {
    const binary = framing.find((b) => b.subject === MAIN && (b.round ?? 1) === (m.round ?? 1));
    return [String(m.round ?? 1), m.subject, fixed(num(m.result, 'mb_per_s'), 1), fixed(cpuPerGB(m)), binary === undefined ? '' : fixed(cpuPerGB(m) / cpuPerGB(binary))];
  });
  const subjects = [...new Set(framing.map((m) => m.subject))].filter((subject) => subject !== MAIN);
  const medians = subjects.map((subject) => {
    const ratios = framingRatios(all, subject, MAIN);
    return `- ${subject} ÷ binary, per round: ${ratios.map((r) => fixed(r)).join(', ')}; median ${fixed(median(ratios))}`;
  });
  return table(['round', 'bridge', 'MB/s', 'CPU s/GB', '÷ binary'], rows) + (medians.length === 0 ? '' : '\n' + medians.join('\n') + '\n');
}

interface Target {
  readonly what: string;
  readonly value: number;
  readonly limit: number;
}

function targets(all: readonly Measurement[]): Target[] {
  const list: Target[] = [];
  /** `subject`'s figure divided by `base`'s, in the same workload. */
  const ratioOf = (subject: string, base: string, workload: string, key: string, metric: (m: Measurement) => number): number => {
    const ours = find(all, subject, workload, key);
    const theirs = find(all, base, workload, key);
    return ours === undefined || theirs === undefined ? NaN : metric(ours) / metric(theirs);
  };
  const ratio = (workload: string, key: string, anchor: string, metric: (m: Measurement) => number): number =>
    ratioOf(MAIN, anchor, workload, key, metric);
  list.push({ what: 'CPU/GB at 16 × 16 KiB ÷ bare-uws', value: ratio('throughput', '16x16384', 'bare-uws', cpuPerGB), limit: 1.3 });
  list.push({ what: 'CPU/Mmsg at 16 × 64 B ÷ bare-uws', value: ratio('throughput', '16x64', 'bare-uws', cpuPerMmsg), limit: 1.0 });
  for (const m of all.filter((x) => x.workload === 'throughput' && x.subject === MAIN)) {
    list.push({ what: `CPU/GB at ${m.key} ÷ naive-ws`, value: ratio('throughput', m.key, 'naive-ws', cpuPerGB), limit: 0.6 });
    list.push({ what: `CPU/GB at ${m.key} ÷ websockify`, value: ratio('throughput', m.key, 'websockify', cpuPerGB), limit: 0.3 });
  }
  const p99 = (subject: string): number => num(find(all, subject, 'latency', '64')?.result ?? {}, 'p99_us');
  list.push({ what: 'p99 round trip − bare-uws (µs)', value: p99(MAIN) - p99('bare-uws'), limit: 100 });
  const idle = find(all, MAIN, 'idle', all.find((m) => m.workload === 'idle')?.key ?? '');
  list.push({ what: 'RSS per idle bridged connection (KiB)', value: idle === undefined ? NaN : idleRssPerConnection(idle) / 1024, limit: 8 });
  // Framing is measured in rounds: the median of each round's ratio.
  for (const framing of ['websocksy-newline', 'websocksy-json']) {
    list.push({ what: `${framing} CPU/GB at 4 KiB ÷ binary (median of rounds)`, value: median(framingRatios(all, framing, MAIN)), limit: 1.25 });
  }
  // A C plugin pays a koffi call per framing call: it may cost at most 10% over the TS builtin.
  list.push({ what: 'websocksy-c-json CPU/GB at 4 KiB ÷ websocksy-json (median of rounds)', value: median(framingRatios(all, 'websocksy-c-json', 'websocksy-json')), limit: 1.1 });
  return list;
}

export function formatReport(info: Readonly<Record<string, string>>, subjects: readonly Subject[], all: readonly Measurement[]): string {
  const anchors = ['bare-uws', 'naive-ws', 'websockify', 'baseline'].filter((name) => all.some((m) => m.subject === name));
  const targetRows = targets(all).map((t) => [t.what, fixed(t.value), `≤ ${t.limit}`, Number.isFinite(t.value) ? (t.value <= t.limit ? 'met' : 'MISSED') : 'n/a']);
  return [
    `# websocksy benchmark, ${info['date'] ?? ''}`,
    '',
    Object.entries(info).map(([key, value]) => `- ${key}: ${value}`).join('\n'),
    '',
    '## Bridges',
    '',
    subjects.map((s) => `- **${s.name}**: ${s.description}`).join('\n'),
    '',
    '## Targets',
    '',
    table(['target', 'measured', 'limit', ''], targetRows),
    '## Throughput (echo; every byte verified)',
    '',
    throughputSection(all, anchors),
    '## Round-trip latency (one connection, 64 B)',
    '',
    latencySection(all),
    '## Connection rate (open, one echo, close)',
    '',
    connrateSection(all),
    '## Idle bridged connections',
    '',
    idleSection(all),
    '## Framing cost (16 × 4 KiB lines of digits)',
    '',
    framingSection(all),
  ].join('\n');
}
