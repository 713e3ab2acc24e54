/**
 * The binding's side of the concurrency benchmark (see batched-bench.ts for the native side)
 * and the chat-session time-to-first-token check, through the public API only.
 *
 * Concurrency: one context with `sequences` = the largest level and the same size and batch
 * sizes as llama-batched-bench. For each level `pl`, `pl` generations of `tg` greedy tokens
 * start at once, each after its own prompt of `pp` fixed pseudo-random tokens (no prompt
 * cache). Aggregate generation speed is measured over the window in which all `pl` streams
 * are generating (from the last stream's first token to the first stream's last token), from
 * the arrival times of the streamed tokens in JS: the steady state llama-batched-bench times,
 * plus what it does not do (sampling, detokenizing, delivery to a `for await` loop). Event-loop
 * delay is taken in a second, monitored run of each level.
 *
 * Chat: a ChatSession of short turns; time to first token (wall time from `send()` to the
 * first chunk) of every turn, so turn 10 can be compared with turn 1.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadModel, type Context, type Generation } from '../lib/index.js';
import type { StreamsShape } from './batched-bench.js';
import { median } from './stats.js';

const GREEDY = { temperature: 0, repeatPenalty: 1 } as const;

export interface ConcurrencyOptions extends StreamsShape {
  modelPath: string;
}

/** One level's measurement. */
export interface ConcurrencyLevel {
  pl: number;
  /** Aggregate generation tokens/s while all streams generate. */
  speedTg: number;
  /** Event-loop delay p99 and max during the level, ms. */
  loopP99Ms: number;
  loopMaxMs: number;
}

/** Deterministic pseudo-random token ids in [100, 32000) (a fixed LCG: same prompts every run). */
function promptTokens(length: number, seed: number): number[] {
  let state = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out.push(100 + (state % 31900));
  }
  return out;
}

/** Streams one generation and records when each token arrived. */
async function timed(generation: Generation): Promise<Array<{ at: number; count: number }>> {
  const arrivals: Array<{ at: number; count: number }> = [];
  for await (const chunk of generation) {
    if (chunk.tokens.length > 0) arrivals.push({ at: performance.now(), count: chunk.tokens.length });
  }
  return arrivals;
}

/** Runs `pl` streams at once; returns aggregate tokens/s over the window all of them generate. */
async function streams(context: Context, pl: number, o: ConcurrencyOptions, seed: number): Promise<number> {
  const arrivals = await Promise.all(
    Array.from({ length: pl }, (_, i) =>
      timed(context.generate(promptTokens(o.prompt, seed + i), { ...GREEDY, maxTokens: o.generate, cachePrompt: false })),
    ),
  );
  const start = Math.max(...arrivals.map((s) => s[0]!.at));
  const end = Math.min(...arrivals.map((s) => s.at(-1)!.at));
  let tokens = 0;
  for (const stream of arrivals) for (const a of stream) if (a.at > start && a.at <= end) tokens += a.count;
  return (tokens * 1000) / (end - start);
}

/**
 * One level: a throughput run, then a second run with the event-loop monitor on (its 1000
 * wake-ups per second would otherwise be charged to throughput, as in binding-bench.ts).
 */
async function level(context: Context, pl: number, o: ConcurrencyOptions, round: number): Promise<ConcurrencyLevel> {
  const speedTg = await streams(context, pl, o, 1 + 100 * round);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  await streams(context, pl, o, 51 + 100 * round);
  loop.disable();
  return { pl, speedTg, loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6 };
}

/** Measures every level once (after an untimed warm-up at the largest level). */
export async function runBindingConcurrency(o: ConcurrencyOptions, round: number): Promise<ConcurrencyLevel[]> {
  await using model = await loadModel(o.modelPath);
  await using context = await model.createContext({
    contextSize: o.contextSize,
    batchSize: o.batchSize,
    ubatchSize: o.ubatchSize,
    threads: o.threads,
    sequences: Math.max(...o.levels),
  });
  await streams(context, Math.max(...o.levels), { ...o, generate: 4 }, 9999);
  const out: ConcurrencyLevel[] = [];
  for (const pl of o.levels) out.push(await level(context, pl, o, round));
  return out;
}

export interface ChatTtftOptions {
  modelPath: string;
  threads: number;
  turns: number;
  /** Tokens per reply. */
  replyTokens: number;
}

/** Wall-clock time to first token of each turn of one chat session, ms. */
export async function runChatTtft(o: ChatTtftOptions): Promise<number[]> {
  await using model = await loadModel(o.modelPath);
  await using context = await model.createContext({ contextSize: 4096, threads: o.threads });
  // Warm-up on a different conversation: the first decode of a fresh context is slower.
  await context.chat([{ role: 'user', content: 'warm up' }], { ...GREEDY, maxTokens: 2 }).result;
  const session = context.createChatSession({ systemPrompt: 'You are a helpful assistant.' });
  const ttft: number[] = [];
  for (let turn = 1; turn <= o.turns; turn++) {
    const started = performance.now();
    let first: number | undefined;
    for await (const chunk of session.send(`Question number ${turn}: what comes next?`, { ...GREEDY, maxTokens: o.replyTokens })) {
      if (chunk.tokens.length > 0) first ??= performance.now() - started;
    }
    ttft.push(first ?? Number.NaN);
  }
  return ttft;
}

/** Median over rounds of turn `n`'s TTFT divided by turn 1's. */
export function turnRatio(rounds: readonly number[][], n: number): number {
  return median(rounds.map((r) => r[n - 1]! / r[0]!));
}
