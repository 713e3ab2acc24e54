/**
 * Public option types, their defaults, and the functions that validate user options and
 * fill in defaults. Every default lives here, in one place, so that a benchmark or a policy
 * change edits one line.
 */
import { physicalCores } from './cpu.js';
import { getRandomValues } from 'node:crypto';
import {
  INT32_MAX,
  booleanOption,
  functionOption,
  integerOption,
  numberOption,
  optionsObject,
  signalOption,
  stringListOption,
  typeError,
} from './validate.js';

// ---------------------------------------------------------------------------------------------
// loadModel

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /**
   * How many layers to offload to the GPU: a non-negative integer, or `'max'` for all of them.
   * Default `0` (CPU only), so a machine without a GPU backend behaves the same as one with it
   * until the caller opts in. Ignored by CPU-only builds.
   */
  gpuLayers?: number | 'max';
  /**
   * Map the file into memory (`true`) or read it into buffers (`false`). Default: llama.cpp
   * decides (as its own tools do): mmap, unless a device in use cannot work from mapped memory.
   */
  useMmap?: boolean;
  /** Lock the model's memory so the OS cannot swap it out (default `false`; may need privileges). */
  useMlock?: boolean;
  /** Load only the vocabulary (default `false`): enough for tokenize/detokenize; no contexts. */
  vocabOnly?: boolean;
  /**
   * Called with the load progress in `[0, 1]`. A callback that throws is ignored (and reported
   * through {@link setLogger}) so it cannot break the load.
   */
  onProgress?: (progress: number) => void;
  /** Cancels the load: an aborted signal rejects with `ERR_ABORTED` and frees everything loaded. */
  signal?: AbortSignal;
}

/** {@link LoadModelOptions} after validation, with defaults applied. @internal */
export interface ResolvedLoadModelOptions {
  /** Native convention: -1 = all layers. */
  gpuLayers: number;
  /** `undefined`: llama.cpp's automatic choice. */
  useMmap: boolean | undefined;
  useMlock: boolean;
  vocabOnly: boolean;
  onProgress: ((progress: number) => void) | undefined;
  signal: AbortSignal | undefined;
}

/** Defaults of {@link LoadModelOptions}. */
export const LOAD_MODEL_DEFAULTS = Object.freeze({
  gpuLayers: 0,
  useMmap: undefined,
  useMlock: false,
  vocabOnly: false,
});

const LOAD_MODEL_KEYS = ['gpuLayers', 'useMmap', 'useMlock', 'vocabOnly', 'onProgress', 'signal'] as const;

/** Validates {@link LoadModelOptions} and applies defaults. @internal */
export function resolveLoadModelOptions(options: unknown): ResolvedLoadModelOptions {
  const o = optionsObject(options, 'loadModel options', LOAD_MODEL_KEYS);
  return {
    gpuLayers: o.gpuLayers === undefined ? LOAD_MODEL_DEFAULTS.gpuLayers : gpuLayersOption(o.gpuLayers),
    useMmap: o.useMmap === undefined ? LOAD_MODEL_DEFAULTS.useMmap : booleanOption('useMmap', o.useMmap),
    useMlock: o.useMlock === undefined ? LOAD_MODEL_DEFAULTS.useMlock : booleanOption('useMlock', o.useMlock),
    vocabOnly: o.vocabOnly === undefined ? LOAD_MODEL_DEFAULTS.vocabOnly : booleanOption('vocabOnly', o.vocabOnly),
    onProgress: o.onProgress === undefined ? undefined : functionOption<(progress: number) => void>('onProgress', o.onProgress),
    signal: o.signal === undefined ? undefined : signalOption('signal', o.signal),
  };
}

function gpuLayersOption(value: unknown): number {
  if (value === 'max') return -1;
  if (typeof value === 'string') throw typeError('gpuLayers', `an integer in [0, ${INT32_MAX}] or "max"`, value);
  return integerOption('gpuLayers', value, { min: 0, max: INT32_MAX }, ' or "max"');
}

// ---------------------------------------------------------------------------------------------
// createContext

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
}

/** Context parameters after validation, with defaults applied. @internal */
export interface ResolvedContextOptions {
  contextSize: number;
  batchSize: number;
  ubatchSize: number;
  threads: number;
  threadsBatch: number;
  poll: number;
  /** Parallel sequences; 1 until continuous batching lands. */
  sequences: number;
}

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

const CONTEXT_KEYS = ['contextSize', 'batchSize', 'ubatchSize', 'threads', 'threadsBatch', 'poll'] as const;

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
  const ubatchSize =
    o.ubatchSize === undefined ? batchSize : integerOption('ubatchSize', o.ubatchSize, { min: 1, max: batchSize });
  const threads =
    o.threads === undefined ? defaultThreads() : integerOption('threads', o.threads, { min: 1, max: MAX_THREADS });
  const threadsBatch =
    o.threadsBatch === undefined
      ? threads
      : integerOption('threadsBatch', o.threadsBatch, { min: 1, max: MAX_THREADS });
  const poll = o.poll === undefined ? DEFAULT_POLL : integerOption('poll', o.poll, { min: 0, max: 100 });
  return { contextSize, batchSize, ubatchSize, threads, threadsBatch, poll, sequences: 1 };
}

// ---------------------------------------------------------------------------------------------
// generate

/** Options of {@link Context.generate}. */
export interface GenerateOptions {
  /** Most tokens to generate; `-1` = until end of generation or the context is full. Default `-1`. */
  maxTokens?: number;
  /** Sampling temperature, finite `>= 0`; `0` = greedy (always the most likely token). Default `0.7`. */
  temperature?: number;
  /** Keep only the `topK` most likely tokens; `0` = off. Default `40`. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP`, `(0, 1]`. Default `0.95`. */
  topP?: number;
  /** Drop tokens less likely than `minP` × the best token's probability, `[0, 1]`. Default `0.05`. */
  minP?: number;
  /** Penalty for repeating recent tokens, finite `> 0`; `1` = off. Default `1.1`. */
  repeatPenalty?: number;
  /** How many recent tokens the repeat penalty looks at; `-1` = the whole context, `0` = off. Default `64`. */
  repeatLastN?: number;
  /**
   * Seed of the random sampler, an integer in `[0, 4294967294]`. Default: a fresh random seed
   * per generation. (4294967295 is llama.cpp's "pick a random seed" value, so it is not accepted:
   * a seed the caller passes must reproduce.)
   */
  seed?: number;
  /** Generation ends when any of these strings appears; the stop string itself is never emitted. At most 16. */
  stop?: readonly string[];
  /** Aborts the generation: `finishReason` becomes `'abort'`, the text generated so far is kept. */
  signal?: AbortSignal;
}

/** {@link GenerateOptions} after validation, with defaults applied. @internal */
export interface ResolvedGenerateOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  repeatLastN: number;
  seed: number;
  stop: readonly string[];
  signal: AbortSignal | undefined;
}

/** Defaults of {@link GenerateOptions} (the seed default is random per call). */
export const GENERATE_DEFAULTS = Object.freeze({
  maxTokens: -1,
  temperature: 0.7,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1.1,
  repeatLastN: 64,
});

/** Largest accepted seed; llama.cpp reads 0xFFFFFFFF (LLAMA_DEFAULT_SEED) as "random". */
export const MAX_SEED = 0xffff_fffe;
/** Most stop strings per generation: each one is searched on every token. */
export const MAX_STOP_STRINGS = 16;

const GENERATE_KEYS = [
  'maxTokens',
  'temperature',
  'topK',
  'topP',
  'minP',
  'repeatPenalty',
  'repeatLastN',
  'seed',
  'stop',
  'signal',
] as const;

/** A random seed in `[0, MAX_SEED]` from the OS's CSPRNG. */
export function randomSeed(): number {
  const [value] = getRandomValues(new Uint32Array(1));
  return value! % (MAX_SEED + 1);
}

/** Validates {@link GenerateOptions} and applies defaults. @internal */
export function resolveGenerateOptions(options: unknown): ResolvedGenerateOptions {
  const o = optionsObject(options, 'generate options', GENERATE_KEYS);
  const d = GENERATE_DEFAULTS;
  return {
    maxTokens: o.maxTokens === undefined ? d.maxTokens : integerOption('maxTokens', o.maxTokens, { min: -1, max: INT32_MAX }),
    temperature: o.temperature === undefined ? d.temperature : numberOption('temperature', o.temperature, { min: 0 }),
    topK: o.topK === undefined ? d.topK : integerOption('topK', o.topK, { min: 0, max: INT32_MAX }),
    topP: o.topP === undefined ? d.topP : numberOption('topP', o.topP, { min: 0, max: 1, minExclusive: true }),
    minP: o.minP === undefined ? d.minP : numberOption('minP', o.minP, { min: 0, max: 1 }),
    repeatPenalty:
      o.repeatPenalty === undefined
        ? d.repeatPenalty
        : numberOption('repeatPenalty', o.repeatPenalty, { min: 0, minExclusive: true }),
    repeatLastN:
      o.repeatLastN === undefined ? d.repeatLastN : integerOption('repeatLastN', o.repeatLastN, { min: -1, max: INT32_MAX }),
    seed: o.seed === undefined ? randomSeed() : integerOption('seed', o.seed, { min: 0, max: MAX_SEED }),
    stop: o.stop === undefined ? [] : Object.freeze([...new Set(stringListOption('stop', o.stop, MAX_STOP_STRINGS))]),
    signal: o.signal === undefined ? undefined : signalOption('signal', o.signal),
  };
}
