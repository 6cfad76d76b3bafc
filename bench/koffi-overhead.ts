/*
 * `node dist/bench/koffi-overhead.js`: what a framing call costs through koffi. Each framing
 * function is called in a loop, in this process, through the same FramingFunction interface the
 * bridge uses: the TS builtin against the C plugin built from plugins/. With `fixedlength 0` the
 * function does nothing, so the difference is koffi's own cost per call; with `json` on 4 KiB
 * values it is the whole framing work.
 */
import { WsOperation, type FramingContext, type FramingDefinition } from '../src/core/api.js';
import { PluginLoader } from '../src/loader/plugin-loader.js';
import { createFramingRegistry } from '../src/framing/index.js';

const CALLS = Number(process.env['CALLS'] ?? 1_000_000);

function nsPerCall(framing: FramingDefinition, config: string | null, data: Uint8Array, calls: number): number {
  const ctx: FramingContext = { opcode: WsOperation.binary, state: null, config };
  // Warm up the JIT and the per-connection state first.
  for (let i = 0; i < 10_000; i++) framing.frame(data, data.length, ctx);
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    ctx.opcode = WsOperation.binary;
    framing.frame(data, data.length, ctx);
  }
  const elapsed = Number(process.hrtime.bigint() - started);
  framing.frame(null, 0, ctx);
  return elapsed / calls;
}

async function main(): Promise<void> {
  const builtins = createFramingRegistry();
  const plugins = createFramingRegistry();
  const root = new URL('../../', import.meta.url);
  await new PluginLoader({ path: new URL('build/plugins', root).pathname, explicit: true }, plugins, {
    framing: (name) => plugins.get(name),
    warn: () => undefined,
  }).loadFramingPlugins();

  const bytes = new Uint8Array(4096).fill(0x61);
  const json = Buffer.from(`[${'1234567,'.repeat(511)}1]`);
  const cases: [string, string | null, Uint8Array, number][] = [
    ['fixedlength', '0', bytes, CALLS],
    ['json', null, json, CALLS / 10],
  ];
  for (const [name, config, data, calls] of cases) {
    const ts = nsPerCall(builtins.get(name) as FramingDefinition, config, data, calls);
    const c = nsPerCall(plugins.get(name) as FramingDefinition, config, data, calls);
    process.stdout.write(`${name} ${JSON.stringify(config)} on ${data.length} B: TS ${ts.toFixed(0)} ns/call, C via koffi ${c.toFixed(0)} ns/call, difference ${(c - ts).toFixed(0)} ns\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`koffi-overhead: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
