/*
 * How the bench starts websocksy: node, BENCH_NODE_ARGS (`--perf-basic-prof` while profiling any
 * workload, `--min-semi-space-size=16` to try a V8 heap option), then bin/websocksy.
 */

/** BENCH_NODE_ARGS, split. */
export const NODE_ARGS: readonly string[] = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== '');

/** node's arguments up to websocksy's own, relative to the checkout. */
export const WEBSOCKSY: readonly string[] = [...NODE_ARGS, 'bin/websocksy'];
