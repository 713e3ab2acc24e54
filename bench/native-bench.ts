/**
 * Runs llama.cpp's llama-bench (`-o json`) and parses its results: the native reference the
 * binding is compared with.
 *
 * What llama-bench measures (tools/llama-bench/llama-bench.cpp), and so what the binding
 * side must mirror:
 * - `ppN`: after one untimed warmup of the same test, N tokens (BOS + `std::rand()` ids)
 *   decoded with `llama_decode` in n_batch pieces from an empty KV cache; tokens/s = N / time.
 *   The context is `n_ctx = N` (llama.cpp pads it to 256) and n_batch is clamped to n_ctx.
 * - `tgN`: after a 1-token warmup, N single-token `llama_decode` calls from an empty cache
 *   (positions 0..N-1) with random next tokens: no sampling, no detokenizing.
 * - a fresh llama_context per test, a persistent ggml threadpool with `--poll`, mmap on,
 *   flash attention `auto`, F16 KV cache.
 */
import { runCapture } from './tools.js';

/** One llama-bench test result (the JSON fields this benchmark uses). */
export interface NativeResult {
  nPrompt: number;
  nGen: number;
  threads: number;
  poll: number;
  nBatch: number;
  nUbatch: number;
  /** Mean tokens/s over the repetitions, as llama-bench prints it. */
  avgTs: number;
  /** Tokens/s of each repetition. */
  samplesTs: number[];
  cpuInfo: string;
  buildCommit: string;
  modelType: string;
}

/** What to run. Lists produce one test per combination, as llama-bench's own lists do. */
export interface NativeBenchOptions {
  llamaBench: string;
  model: string;
  threads: readonly number[];
  poll: readonly number[];
  /** Prompt lengths (each a ppN test). */
  prompts: readonly number[];
  /** Generation length (one tgN test), 0 for none. */
  generate: number;
  repetitions: number;
  batchSize: number;
  ubatchSize: number;
  /** Layers offloaded to a GPU (`-ngl`); default 0, the binding's default (CPU only). */
  gpuLayers?: number;
  /** RPC servers (`-rpc host:port,…`; bench/rpc-bench.ts). */
  rpc?: readonly string[];
}

/** Runs llama-bench once and returns one entry per test. */
export async function runLlamaBench(o: NativeBenchOptions): Promise<NativeResult[]> {
  const args = [
    '-m', o.model,
    '-t', o.threads.join(','),
    '--poll', o.poll.join(','),
    '-p', o.prompts.join(','),
    '-n', String(o.generate),
    '-b', String(o.batchSize),
    '-ub', String(o.ubatchSize),
    '-ngl', String(o.gpuLayers ?? 0), // default CPU, like the binding's default gpuLayers: 0
    ...(o.rpc && o.rpc.length > 0 ? ['-rpc', o.rpc.join(',')] : []),
    '-r', String(o.repetitions),
    '-o', 'json',
  ];
  const { stdout } = await runCapture(o.llamaBench, args);
  const start = stdout.indexOf('[');
  if (start < 0) throw new Error(`llama-bench printed no JSON:\n${stdout.slice(0, 2000)}`);
  const raw = JSON.parse(stdout.slice(start)) as Array<Record<string, unknown>>;
  return raw.map((t) => ({
    nPrompt: Number(t['n_prompt']),
    nGen: Number(t['n_gen']),
    threads: Number(t['n_threads']),
    poll: Number(t['poll']),
    nBatch: Number(t['n_batch']),
    nUbatch: Number(t['n_ubatch']),
    avgTs: Number(t['avg_ts']),
    samplesTs: (t['samples_ts'] as number[]).map(Number),
    cpuInfo: String(t['cpu_info'] ?? ''),
    buildCommit: String(t['build_commit'] ?? ''),
    modelType: String(t['model_type'] ?? ''),
  }));
}

/** The result of test ppN / tgN at the given threads and poll (undefined if not run). */
export function findTest(
  results: readonly NativeResult[],
  test: { nPrompt: number; nGen: number; threads: number; poll: number },
): NativeResult | undefined {
  return results.find(
    (r) => r.nPrompt === test.nPrompt && r.nGen === test.nGen && r.threads === test.threads && r.poll === test.poll,
  );
}
