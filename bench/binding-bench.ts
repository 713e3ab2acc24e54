/**
 * Measures the binding the way llama-bench measures llama.cpp (see native-bench.ts), through
 * the public API only, so the numbers are what a user of the package gets.
 *
 * Mirroring llama-bench:
 * - prompt (ppN): `generate(N token ids, { maxTokens: 1 })` and the result's
 *   `promptTokensPerSecond` (native time of the prompt's llama_decode calls). Token ids are
 *   BOS + fixed pseudo-random ids, like llama-bench's `std::rand()` tokens. n_batch/n_ubatch
 *   are set to llama-bench's effective values so both decode the same graph shapes.
 * - generation (tgN): `generate([BOS], { maxTokens: N + 1 })` with greedy sampling: the BOS
 *   is the prompt, then N + 1 tokens are sampled and N of them decoded (the native loop
 *   stops before decoding the last one), so the timed span holds N single-token decodes, as
 *   llama-bench's tgN does. Rate = decodes / native generation time. The binding also samples
 *   (greedy over 32k logits), detokenizes and hands every token to JS; llama-bench does none
 *   of that, so this ratio is conservative.
 * - the same untimed warmups (a full prompt run; a generation run), one model load per round.
 *
 * Time to first token is wall time from the `generate()` call to the first chunk in a
 * `for await` loop, the latency a user sees. Event-loop delay uses Node's
 * monitorEventLoopDelay (resolution 1 ms: its samples include that 1 ms timer period, so an
 * idle loop reads ~1.1 ms) enabled only around one extra generation run, whose 1000 timer
 * wake-ups per second would otherwise be charged to the throughput runs.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadModel, type Context, type GenerateOptions, type GenerationResult, type Model } from '../lib/index.js';

/**
 * Greedy, no penalties: the cheapest sampler chain (one argmax), closest to "no sampling". No
 * prompt cache: llama-bench evaluates every repetition from an empty KV cache, and so does this.
 */
const GREEDY: GenerateOptions = { temperature: 0, repeatPenalty: 1, cachePrompt: false };

/** What to measure. */
export interface BindingBenchOptions {
  modelPath: string;
  threads: number;
  poll: number;
  /** Prompt length of the throughput test (llama-bench `-p`). */
  nPrompt: number;
  /** Generated tokens of the generation test (llama-bench `-n`). */
  nGen: number;
  /** Prompt length for time to first token. */
  ttftPrompt: number;
  repetitions: number;
  /** Requested batch sizes (llama-bench `-b`, `-ub`); clamped the way llama.cpp clamps them. */
  batchSize: number;
  ubatchSize: number;
  /** `loadModel`'s gpuLayers (default 0: CPU only); for GPU builds (bench/gpu.ts). */
  gpuLayers?: number;
  /** `loadModel`'s rpcServers (bench/rpc-bench.ts). */
  rpcServers?: string[];
}

/** Samples of one round (one model load). */
export interface BindingRound {
  /** Prompt tokens/s per repetition. */
  ppTs: number[];
  /** Generation decodes/s per repetition. */
  tgTs: number[];
  /** Wall ms from generate() to the first chunk, per repetition. */
  ttftMs: number[];
  /** The library's own `timeToFirstTokenMs` (native work start → first token), per repetition. */
  ttftLibraryMs: number[];
  /** Event-loop delay during the monitored generation run. */
  loop: LoopDelay;
  /** Event-loop delay while idle for as long as one generation, for reference. */
  loopIdle: LoopDelay;
  /** Decodes/s of the monitored run (includes the monitor's own wake-ups). */
  tgMonitoredTs: number;
  /** Generation prompt used (BOS, or BOS + one token if greedy decoding from BOS hit EOG early). */
  tgPrompt: number[];
  /** Tokens decoded per generation run (nGen unless the model ended generation early). */
  tgDecodes: number;
  loadMs: number;
  /** Allocated context size and the batch sizes actually requested. */
  contextSize: number;
  batchSize: number;
  ubatchSize: number;
  notes: string[];
}

/** p99 and max of Node's event-loop delay histogram, in ms. */
export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** llama.cpp pads n_ctx to a multiple of 256 (llama-context.cpp). */
const pad256 = (n: number): number => Math.ceil(n / 256) * 256;

/**
 * Deterministic pseudo-random token ids (a 32-bit LCG, fixed seed): the same prompt every run
 * and every round, like llama-bench's unseeded `std::rand()`. Ids below 3 (unk/BOS/EOS in the
 * Llama vocabulary) are avoided so the prompt is ordinary text tokens.
 */
export function pseudoRandomTokens(count: number, vocabularySize: number, first: number | undefined, seed = 12345): number[] {
  const ids: number[] = [];
  let state = seed >>> 0;
  if (first !== undefined && first >= 0) ids.push(first);
  while (ids.length < count) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    ids.push(3 + (state % (vocabularySize - 3)));
  }
  return ids;
}

/** Native generation time in µs, recovered from the result's rate (rate = tokens / time). */
function generateMicros(r: GenerationResult): number {
  return r.generationTokensPerSecond > 0 ? (r.generatedTokens * 1e6) / r.generationTokensPerSecond : Number.NaN;
}

/**
 * Single-token decodes inside the timed generation span: the native loop samples first and
 * decodes after each emitted token except the last when it stops at maxTokens ('length');
 * at EOG every emitted token was decoded.
 */
function decodesOf(r: GenerationResult): number {
  return r.finishReason === 'length' ? r.generatedTokens - 1 : r.generatedTokens;
}

/** Runs a generation the way an application streams one: `for await`, appending text. */
async function streamed(ctx: Context, prompt: number[], options: GenerateOptions): Promise<{ result: GenerationResult; firstChunkMs: number }> {
  const started = performance.now();
  let firstChunkMs = Number.NaN;
  let text = '';
  const generation = ctx.generate(prompt, { ...GREEDY, ...options });
  for await (const chunk of generation) {
    if (Number.isNaN(firstChunkMs)) firstChunkMs = performance.now() - started;
    text += chunk.text;
  }
  const result = await generation.result;
  if (text !== result.text) throw new Error('streamed text differs from result.text'); // cheap sanity check
  return { result, firstChunkMs };
}

/** Histogram summary in ms. */
function summarize(h: ReturnType<typeof monitorEventLoopDelay>): LoopDelay {
  return { p50Ms: h.percentile(50) / 1e6, p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 };
}

/** Finds a generation prompt whose greedy continuation does not end (EOG) before nGen + 1 tokens. */
async function chooseGenerationPrompt(ctx: Context, model: Model, nGen: number, notes: string[]): Promise<number[]> {
  const bos = model.info.bosToken;
  const candidates: number[][] = [[bos], ...pseudoRandomTokens(8, model.info.vocabularySize, undefined, 777).map((t) => [bos, t])];
  for (const prompt of candidates) {
    const { result } = await streamed(ctx, prompt, { maxTokens: nGen + 1 });
    if (result.finishReason === 'length' && result.generatedTokens === nGen + 1) {
      if (prompt.length > 1) notes.push(`greedy decoding from [BOS] hit end-of-generation early; generation prompt is [BOS, ${prompt[1]}]`);
      return prompt;
    }
  }
  notes.push(`every candidate prompt hit end-of-generation before ${nGen + 1} tokens; using [BOS] and counting what was decoded`);
  return [bos];
}

/**
 * One round: load the model, create the context, warm up, then `repetitions` × prompt,
 * time-to-first-token and generation runs, one monitored generation run, and dispose.
 */
export async function runBindingRound(o: BindingBenchOptions): Promise<BindingRound> {
  const notes: string[] = [];
  const loadStart = performance.now();
  await using model = await loadModel(o.modelPath, { gpuLayers: o.gpuLayers ?? 0, ...(o.rpcServers ? { rpcServers: o.rpcServers } : {}) });
  const loadMs = performance.now() - loadStart;

  // One context for all tests. Its size only has to hold the longest test: attention only
  // spans the used (256-padded) KV cells, so a larger cache than llama-bench's costs nothing.
  // n_batch as llama-bench's ppN test ends up with: min(-b, n_ctx padded to 256).
  const contextSize = Math.max(o.nPrompt, o.nGen + 2, o.ttftPrompt) + 1;
  const batchSize = Math.min(o.batchSize, pad256(o.nPrompt), contextSize);
  const ubatchSize = Math.min(o.ubatchSize, batchSize);
  await using ctx = await model.createContext({
    contextSize,
    batchSize,
    ubatchSize,
    threads: o.threads,
    threadsBatch: o.threads,
    poll: o.poll,
  });

  const { vocabularySize, bosToken, addBos } = model.info;
  const first = addBos ? bosToken : undefined;
  const ppPrompt = pseudoRandomTokens(o.nPrompt, vocabularySize, first);
  const ttftPrompt = pseudoRandomTokens(o.ttftPrompt, vocabularySize, first, 999);

  // Prompt processing: one warmup (llama-bench warms up with the full test), then the runs.
  await ctx.generate(ppPrompt, { ...GREEDY, maxTokens: 1 }).result;
  const ppTs: number[] = [];
  for (let i = 0; i < o.repetitions; i++) {
    const r = await ctx.generate(ppPrompt, { ...GREEDY, maxTokens: 1 }).result;
    if (r.promptTokens !== o.nPrompt) throw new Error(`prompt run evaluated ${r.promptTokens} tokens, expected ${o.nPrompt}`);
    ppTs.push(r.promptTokensPerSecond);
  }

  // Time to first token: a short prompt, as a chat turn's latency.
  const ttftMs: number[] = [];
  const ttftLibraryMs: number[] = [];
  for (let i = 0; i < o.repetitions; i++) {
    const { result, firstChunkMs } = await streamed(ctx, ttftPrompt, { maxTokens: 1 });
    ttftMs.push(firstChunkMs);
    ttftLibraryMs.push(result.timeToFirstTokenMs ?? Number.NaN);
  }

  // Generation: the prompt probe doubles as the warmup run.
  const tgPrompt = await chooseGenerationPrompt(ctx, model, o.nGen, notes);
  const tgTs: number[] = [];
  let tgDecodes = 0;
  for (let i = 0; i < o.repetitions; i++) {
    const { result } = await streamed(ctx, tgPrompt, { maxTokens: o.nGen + 1 });
    tgDecodes = decodesOf(result);
    if (tgDecodes !== o.nGen) notes.push(`a generation run decoded ${tgDecodes} tokens (finish: ${result.finishReason}), not ${o.nGen}`);
    tgTs.push((tgDecodes * 1e6) / generateMicros(result));
  }

  // Event-loop delay: one more generation run with the monitor on, and an idle baseline
  // of about the same length.
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const { result: monitored } = await streamed(ctx, tgPrompt, { maxTokens: o.nGen + 1 });
  histogram.disable();
  const loop = summarize(histogram);
  const tgMonitoredTs = (decodesOf(monitored) * 1e6) / generateMicros(monitored);
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((resolve) => setTimeout(resolve, Math.min(2000, generateMicros(monitored) / 1000)));
  idle.disable();

  return {
    ppTs,
    tgTs,
    ttftMs,
    ttftLibraryMs,
    loop,
    loopIdle: summarize(idle),
    tgMonitoredTs,
    tgPrompt,
    tgDecodes,
    loadMs,
    contextSize: ctx.size,
    batchSize,
    ubatchSize,
    notes,
  };
}
