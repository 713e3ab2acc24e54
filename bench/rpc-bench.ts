/**
 * `npm run bench -- --only rpc`: the model run locally against the same model split over one
 * and two RPC servers on loopback (child processes, test/child/rpc-server.ts), binding and
 * llama-bench (`-rpc`, same build) alternating round by round as in the main benchmark. Loopback
 * measures the protocol's own overhead: the best case of a real network. Then load times with
 * and without the servers' tensor cache (`cacheDir`, llama.cpp's rpc-server `--cache`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../lib/index.js';
import { startServerProcess, type ServerProcess } from '../test/child/rpc-servers.js';
import { runBindingRound, type BindingRound } from './binding-bench.js';
import { findTest, runLlamaBench, type NativeResult } from './native-bench.js';
import { fmt, median, pct, table } from './stats.js';
import { inAlternatingOrder } from './alternate.js';

/** llama-bench's defaults, as the main benchmark. */
const N_PROMPT = 512;
const N_GEN = 128;
const BATCH = 2048;
const UBATCH = 512;
/** Every layer offloaded (to the servers): llama.cpp clamps it to the layer count + output. */
const ALL_LAYERS = 999;

export interface RpcBenchOptions {
  llamaBench: string;
  model: string;
  threads: number;
  rounds: number;
  reps: number;
  /** The servers on CPU 1 (taskset), so that two servers never spread over both cores. */
  pin?: boolean;
  log: (line: string) => void;
}

interface Config {
  name: string;
  servers: number;
}

const CONFIGS: readonly Config[] = [
  { name: 'local (CPU)', servers: 0 },
  { name: '1 RPC server (loopback)', servers: 1 },
  { name: '2 RPC servers (loopback)', servers: 2 },
];

/**
 * Servers' options. `pin` keeps every server on CPU 1 (taskset). The client side is not pinned:
 * a pinned Node process keeps its helper threads (V8, libuv) on its compute thread's core, which
 * llama-bench does not have, and while a server computes its client only waits.
 */
function serverOptions(o: RpcBenchOptions, cacheDir?: string): Parameters<typeof startServerProcess>[2] {
  return { threads: o.threads, ...(o.pin ? { cpus: '1' } : {}), ...(cacheDir !== undefined ? { cacheDir } : {}) };
}

/** Median over rounds of each round's binding/llama-bench ratio: the two ran back to back, so drift between rounds cancels. */
function pairedRatio(binding: readonly number[][], native: readonly number[][]): number {
  return median(binding.map((b, r) => median(b) / median(native[r]!)));
}

export async function runRpcBench(o: RpcBenchOptions): Promise<void> {
  const { log } = o;
  log('');
  log(`RPC: the model local vs split over 1 and 2 loopback RPC servers (each ${o.threads} threads), every layer remote;`);
  log(`     binding and llama-bench -rpc alternating, ${o.rounds} rounds x ${o.reps} repetitions, pp${N_PROMPT} / tg${N_GEN}.`);
  if (o.pin) log('     pinned: the servers on CPU 1 (taskset); binding and llama-bench unpinned.');
  const servers: ServerProcess[] = [];
  try {
    servers.push(await startServerProcess(0, 30_000, serverOptions(o)), await startServerProcess(0, 30_000, serverOptions(o)));
    const rows: string[][] = [];
    for (const config of CONFIGS) {
      const rpc = servers.slice(0, config.servers).map((s) => s.endpoint);
      const gpuLayers = config.servers > 0 ? ALL_LAYERS : 0;
      const native: NativeResult[][] = [];
      const binding: BindingRound[] = [];
      for (let r = 0; r < o.rounds; r++) {
        const runNative = async (): Promise<void> => {
          native.push(
            await runLlamaBench({
              llamaBench: o.llamaBench, model: o.model, threads: [o.threads], poll: [0], prompts: [N_PROMPT], generate: N_GEN,
              repetitions: o.reps, batchSize: BATCH, ubatchSize: UBATCH, gpuLayers, rpc,
            }),
          );
        };
        const runBinding = async (): Promise<void> => {
          binding.push(
            await runBindingRound({
              modelPath: o.model, threads: o.threads, poll: 0, nPrompt: N_PROMPT, nGen: N_GEN, ttftPrompt: 16,
              repetitions: o.reps, batchSize: BATCH, ubatchSize: UBATCH, gpuLayers, ...(rpc.length > 0 ? { rpcServers: rpc } : {}),
            }),
          );
        };
        await inAlternatingOrder(r, runNative, runBinding);
        log(`  ${config.name}: round ${r + 1}/${o.rounds} done`);
      }
      const perRound = (test: { nPrompt: number; nGen: number }): number[][] =>
        native.map((n) => findTest(n, { ...test, threads: o.threads, poll: 0 })?.samplesTs ?? []);
      const nPpRounds = perRound({ nPrompt: N_PROMPT, nGen: 0 });
      const nTgRounds = perRound({ nPrompt: 0, nGen: N_GEN });
      const nPp = median(nPpRounds.flat());
      const nTg = median(nTgRounds.flat());
      const bPp = median(binding.flatMap((b) => b.ppTs));
      const bTg = median(binding.flatMap((b) => b.tgTs));
      rows.push([
        config.name,
        fmt(nPp), fmt(bPp), pct(bPp / nPp), pct(pairedRatio(binding.map((b) => b.ppTs), nPpRounds)),
        fmt(nTg), fmt(bTg), pct(bTg / nTg), pct(pairedRatio(binding.map((b) => b.tgTs), nTgRounds)),
        fmt(median(binding.map((b) => b.loadMs)), 0),
      ]);
    }
    log('');
    log(
      table(
        ['configuration', `llama-bench pp${N_PROMPT}`, 'binding pp', 'pp ratio', 'paired', `llama-bench tg${N_GEN}`, 'binding tg', 'tg ratio', 'paired', 'binding load ms'],
        rows,
      ),
    );
    log('  tokens/s, medians; paired = median over rounds of each round\'s binding/llama-bench ratio (run back to back);');
    log('  load = loadModel wall time (local: mmap; RPC: every tensor sent over loopback).');
  } finally {
    await Promise.all(servers.map((s) => s.kill()));
  }
  await cacheLoads(o);
}

/** Load time over 2 servers: no cache, then with a cache folder, first (filling it) and second load. */
async function cacheLoads(o: RpcBenchOptions): Promise<void> {
  const { log } = o;
  const cacheDirs = [mkdtempSync(join(tmpdir(), 'llama-napi-rpc-cache-')), mkdtempSync(join(tmpdir(), 'llama-napi-rpc-cache-'))];
  const plain: ServerProcess[] = [];
  const cached: ServerProcess[] = [];
  const timeLoad = async (endpoints: string[]): Promise<number> => {
    const t = performance.now();
    const model = await loadModel(o.model, { rpcServers: endpoints, gpuLayers: ALL_LAYERS });
    const ms = performance.now() - t;
    await model.dispose();
    return ms;
  };
  try {
    plain.push(await startServerProcess(0, 30_000, serverOptions(o)), await startServerProcess(0, 30_000, serverOptions(o)));
    cached.push(...(await Promise.all(cacheDirs.map((cacheDir) => startServerProcess(0, 30_000, serverOptions(o, cacheDir))))));
    const noCache: number[] = [];
    const first: number[] = [];
    const again: number[] = [];
    for (let r = 0; r < o.rounds; r++) noCache.push(await timeLoad(plain.map((s) => s.endpoint)));
    first.push(await timeLoad(cached.map((s) => s.endpoint)));
    for (let r = 0; r < o.rounds; r++) again.push(await timeLoad(cached.map((s) => s.endpoint)));
    log('');
    log(
      table(
        ['load over 2 loopback servers', 'ms'],
        [
          ['no tensor cache (median)', fmt(median(noCache), 0)],
          ['cacheDir, first load (fills the cache)', fmt(first[0]!, 0)],
          ['cacheDir, later loads (median; hashes instead of tensors > 10 MiB)', fmt(median(again), 0)],
        ],
      ),
    );
  } finally {
    await Promise.all([...plain, ...cached].map((s) => s.kill()));
    for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
  }
}
