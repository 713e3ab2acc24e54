/**
 * Runs llama.cpp's llama-batched-bench (`--output-format jsonl`) and parses it: the native
 * reference for concurrent streams.
 *
 * What it measures (tools/batched-bench/batched-bench.cpp), and so what the binding mirrors:
 * for each level `pl`, `pl` prompts of `pp` random tokens are decoded in one batch (split by
 * n_batch) from an empty KV cache, then `tg` steps each decode one random token for every
 * sequence in one batch; `speed_tg` = pl·tg / time of those steps. One context for all
 * levels with n_seq_max = the largest level; the KV cache is split per sequence (no `-kvu`).
 * No sampling, no detokenizing.
 */
import { runCapture } from './tools.js';

/** One level of llama-batched-bench. */
export interface BatchedResult {
  pl: number;
  pp: number;
  tg: number;
  /** Aggregate prompt and generation tokens/s. */
  speedPp: number;
  speedTg: number;
}

/** The shape of a concurrency test, the same for llama-batched-bench and the binding. */
export interface StreamsShape {
  threads: number;
  contextSize: number;
  batchSize: number;
  ubatchSize: number;
  /** Prompt tokens per stream (-npp) and generated tokens per stream (-ntg). */
  prompt: number;
  generate: number;
  /** Stream counts (-npl). */
  levels: readonly number[];
}

export interface BatchedBenchOptions extends StreamsShape {
  tool: string;
  model: string;
}

/** Runs llama-batched-bench once over every level. */
export async function runBatchedBench(o: BatchedBenchOptions): Promise<BatchedResult[]> {
  const args = [
    '-m', o.model,
    '-t', String(o.threads),
    '-tb', String(o.threads),
    '-c', String(o.contextSize),
    '-b', String(o.batchSize),
    '-ub', String(o.ubatchSize),
    '-npp', String(o.prompt),
    '-ntg', String(o.generate),
    '-npl', o.levels.join(','),
    '-fa', 'auto',
    '--output-format', 'jsonl',
  ];
  const { stdout, stderr } = await runCapture(o.tool, args);
  const results: BatchedResult[] = [];
  for (const line of `${stdout}\n${stderr}`.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as { pl: number; pp: number; tg: number; speed_pp: number; speed_tg: number };
    results.push({ pl: r.pl, pp: r.pp, tg: r.tg, speedPp: r.speed_pp, speedTg: r.speed_tg });
  }
  if (results.length !== o.levels.length) {
    throw new Error(`llama-batched-bench reported ${results.length} of ${o.levels.length} levels:\n${stderr.slice(-2000)}`);
  }
  return results;
}
