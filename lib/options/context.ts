/**
 * Options of {@link Model.createContext}: context size, batches, threads, sequences, KV cache
 * and embeddings; their defaults and validation.
 */
import { physicalCores } from '../cpu.js';
import type { NativeContextParams } from '../native.js';
import { INT32_MAX, booleanOption, enumOption, integerOption, numberOption, optionsObject, rangeError } from '../validate.js';
/** Options of {@link Model.createContext}. */
export interface ContextOptions {
  /**
   * Tokens the context holds (prompt plus generated text), an integer in
   * `[1, trainedContextLength]`. Default `min(4096, trainedContextLength)`.
   * llama.cpp may round it up; {@link Context.size} reports what was allocated.
   */
  contextSize?: number;
  /** Most tokens submitted to one decode call, `[1, contextSize]`. Default `min(512, contextSize)`. */
  batchSize?: number;
  /** Physical micro-batch size, `[1, batchSize]`. Default `batchSize`. */
  ubatchSize?: number;
  /** Threads for generation, `[1, 256]`. Default {@link defaultThreads}(). */
  threads?: number;
  /** Threads for prompt processing, `[1, 256]`. Default `threads`. */
  threadsBatch?: number;
  /**
   * ggml thread-pool polling, `[0, 100]`: how long idle compute threads spin before they
   * sleep (0: sleep at once). Default `0`. Builds whose ggml uses OpenMP (the default on
   * Linux with GCC) run the compute threads on OpenMP's team instead, which spins briefly
   * after each graph and then sleeps whatever this says; there it changes nothing (measured).
   */
  poll?: number;
  /**
   * Flash attention (llama.cpp's `--flash-attn`): `'on'`, `'off'`, or `'auto'` — on where
   * every device in use supports it for this model. Default `'auto'`. Results match `'off'`
   * up to float rounding.
   */
  flashAttention?: FlashAttention;
  /**
   * Element type of the K cache (llama.cpp's `--cache-type-k`, `-ctk`): `'f16'`, `'q8_0'`
   * (half the memory, close to f16) or `'q4_0'` (a quarter, less exact). Default `'f16'`.
   * Quantized types need the model's head size to be a multiple of 32 (else `ERR_CONTEXT_CREATE`).
   */
  kvCacheTypeK?: KvCacheType;
  /**
   * Element type of the V cache (llama.cpp's `--cache-type-v`, `-ctv`), as `kvCacheTypeK`.
   * Default `'f16'`. A quantized V cache needs flash attention: it is a `RangeError` with
   * `flashAttention: 'off'`, and `'auto'` turns flash attention on for it.
   */
  kvCacheTypeV?: KvCacheType;
  /**
   * Generations the context runs at once, `[1, min(256, contextSize, batchSize)]` (llama.cpp's
   * `--parallel`). Concurrent `generate` / `chat` calls are decoded together, one batch per
   * step (continuous batching); further calls wait for a free sequence, first come first
   * served. The KV cache is split evenly: each generation holds at most
   * `contextSize / sequences` tokens ({@link Context.sequenceSize}). Default `1`.
   */
  sequences?: number;
  /**
   * How long an idle context waits for more requests once one arrives, in milliseconds, `[0,
   * 1000]`, so that the prompts of a burst (several clients at once) are admitted together and
   * decode as one batch. Each request arriving meanwhile extends the wait by the same amount,
   * up to four times it in all, and the wait ends as soon as every sequence is taken. A request
   * to a busy context never waits for it. Default `0` (start at once). `createServer` sets its
   * own default for the context it creates (see its `context` option).
   */
  burstWindowMs?: number;
  /**
   * An embedding context: {@link Context.embed} returns pooled embeddings, and the context
   * computes no logits (it cannot generate). Default `false`.
   */
  embeddings?: boolean;
  /**
   * How an embedding context pools the token states into one vector: `'mean'`, `'cls'` (the
   * first token), `'last'` (the last token) or `'rank'` (a reranker's score). Default: the
   * model's own (`<arch>.pooling_type`), or `'mean'` when the model has none. Only with
   * `embeddings: true`.
   */
  pooling?: Pooling;
}

/** See {@link ContextOptions.pooling}. */
export type Pooling = 'mean' | 'cls' | 'last' | 'rank';
const POOLINGS = ['mean', 'cls', 'last', 'rank'] as const;

/** Most sequences one context serves (llama.cpp's LLAMA_MAX_SEQ). */
export const MAX_SEQUENCES = 256;

/** See {@link ContextOptions.flashAttention}. */
export type FlashAttention = 'auto' | 'on' | 'off';
/** KV cache element types; see {@link ContextOptions.kvCacheTypeK}. */
export type KvCacheType = 'f16' | 'q8_0' | 'q4_0';

const FLASH_ATTENTION_MODES = ['auto', 'on', 'off'] as const;
const KV_CACHE_TYPES = ['f16', 'q8_0', 'q4_0'] as const;

/**
 * Context parameters after validation, with defaults applied: exactly what the addon takes
 * (every field set), except `pooling`, which stays undefined for "the model's own" until the
 * model, which knows its metadata, resolves it. @internal
 */
export type ResolvedContextOptions = Required<Omit<NativeContextParams, 'pooling'>> & { pooling: Pooling | undefined };

/** Upper bound of `threads`/`threadsBatch`: ggml's GGML_MAX_N_THREADS is 512, we stay well below. */
export const MAX_THREADS = 256;

/** Default context size, capped by the model's trained length. */
export const DEFAULT_CONTEXT_SIZE = 4096;
/** Default batch size, capped by the context size. */
export const DEFAULT_BATCH_SIZE = 512;
/** Default thread-pool polling level. */
export const DEFAULT_POLL = 0;

/**
 * The default thread count for new contexts: one per physical core, as llama.cpp's tools do.
 * Measured here (2 vCPUs, `npm run bench -- --sweep`): 2 threads give 1.7× the generation
 * speed of 1 with an event-loop p99 under 2 ms either way, so the JS thread does not need a
 * core of its own: the compute threads wait on the decode's memory traffic often enough.
 */
export function defaultThreads(): number {
  return Math.max(1, Math.min(MAX_THREADS, physicalCores()));
}

const CONTEXT_KEYS = [
  'contextSize',
  'batchSize',
  'ubatchSize',
  'threads',
  'threadsBatch',
  'poll',
  'flashAttention',
  'kvCacheTypeK',
  'kvCacheTypeV',
  'sequences',
  'burstWindowMs',
  'embeddings',
  'pooling',
] as const;

/**
 * Validates {@link ContextOptions} and applies defaults.
 * @param trainedContextLength - the model's trained context length (0 when the file does not say)
 * @internal
 */
export function resolveContextOptions(options: unknown, trainedContextLength: number): ResolvedContextOptions {
  const o = optionsObject(options, 'createContext options', CONTEXT_KEYS);
  // A file without a trained length still gets a sane cap rather than "anything goes".
  const maxContext = trainedContextLength > 0 ? Math.min(trainedContextLength, INT32_MAX) : DEFAULT_CONTEXT_SIZE;
  const contextSize =
    o.contextSize === undefined
      ? Math.min(DEFAULT_CONTEXT_SIZE, maxContext)
      : integerOption('contextSize', o.contextSize, { min: 1, max: maxContext });
  const batchSize =
    o.batchSize === undefined
      ? Math.min(DEFAULT_BATCH_SIZE, contextSize)
      : integerOption('batchSize', o.batchSize, { min: 1, max: contextSize });
  let ubatchSize =
    o.ubatchSize === undefined ? batchSize : integerOption('ubatchSize', o.ubatchSize, { min: 1, max: batchSize });
  const threads =
    o.threads === undefined ? defaultThreads() : integerOption('threads', o.threads, { min: 1, max: MAX_THREADS });
  const threadsBatch =
    o.threadsBatch === undefined
      ? threads
      : integerOption('threadsBatch', o.threadsBatch, { min: 1, max: MAX_THREADS });
  const poll = o.poll === undefined ? DEFAULT_POLL : integerOption('poll', o.poll, { min: 0, max: 100 });
  const flashAttention =
    o.flashAttention === undefined ? 'auto' : enumOption('flashAttention', o.flashAttention, FLASH_ATTENTION_MODES);
  const kvCacheTypeK = o.kvCacheTypeK === undefined ? 'f16' : enumOption('kvCacheTypeK', o.kvCacheTypeK, KV_CACHE_TYPES);
  const kvCacheTypeV = o.kvCacheTypeV === undefined ? 'f16' : enumOption('kvCacheTypeV', o.kvCacheTypeV, KV_CACHE_TYPES);
  const sequences =
    o.sequences === undefined ? 1 : integerOption('sequences', o.sequences, { min: 1, max: Math.min(MAX_SEQUENCES, contextSize) });
  // llama.cpp reserves an output row per sequence within a batch's outputs and aborts the
  // process (GGML_ASSERT in output_reserve) when there are more sequences than batchSize.
  if (sequences > batchSize) throw rangeError('sequences', `at most batchSize (${batchSize})`, sequences);
  const burstWindowMs = o.burstWindowMs === undefined ? 0 : numberOption('burstWindowMs', o.burstWindowMs, { min: 0, max: 1000 });
  const embeddings = o.embeddings === undefined ? false : booleanOption('embeddings', o.embeddings);
  const pooling = o.pooling === undefined ? undefined : enumOption('pooling', o.pooling, POOLINGS);
  if (pooling !== undefined && !embeddings) {
    throw rangeError('pooling', 'no value unless embeddings is true (pooling applies to embedding contexts)', pooling);
  }
  // llama.cpp plans an embedding context's pooling with ubatchSize / sequences tokens per
  // sequence and aborts the process when that is not a whole number.
  if (embeddings && ubatchSize % sequences !== 0) {
    if (o.ubatchSize !== undefined) {
      throw rangeError('ubatchSize', `a multiple of sequences (${sequences}) in an embedding context`, ubatchSize);
    }
    if (ubatchSize < sequences) throw rangeError('sequences', `at most ubatchSize (${ubatchSize}) in an embedding context`, sequences);
    ubatchSize -= ubatchSize % sequences;
  }
  if (kvCacheTypeV !== 'f16' && flashAttention === 'off') {
    // llama.cpp refuses the combination (its quantized V path is the flash-attention kernel).
    throw rangeError('kvCacheTypeV', '"f16" when flashAttention is "off" (a quantized V cache needs flash attention)', kvCacheTypeV);
  }
  return {
    contextSize,
    batchSize,
    ubatchSize,
    threads,
    threadsBatch,
    poll,
    sequences,
    burstWindowMicros: Math.round(burstWindowMs * 1000),
    flashAttention,
    kvCacheTypeK,
    kvCacheTypeV,
    embeddings,
    pooling,
  };
}
