/**
 * Public option types, their defaults, and the functions that validate user options and
 * fill in defaults. Every default lives here, in one place, so that a benchmark or a policy
 * change edits one line.
 */
import { physicalCores } from './cpu.js';
import { grammarOption, jsonSchemaOption, logitBiasOption, type JsonSchema, type LogitBias, type LogitBiasEntries } from './grammar.js';
import { getRandomValues } from 'node:crypto';
import {
  INT32_MAX,
  booleanOption,
  functionOption,
  integerOption,
  numberOption,
  optionsObject,
  signalOption,
  rangeError,
  stringListOption,
  typeError,
} from './validate.js';

// ---------------------------------------------------------------------------------------------
// loadModel

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /**
   * How many layers to offload to the GPU: a non-negative integer, `'max'` for all of them, or
   * `'auto'`: as many as fit in the GPUs' free memory, each keeping `autoFit.margin` bytes
   * free, for the context described by `autoFit.context` — measured before loading with
   * {@link estimateMemory} (a few metadata-only simulations). With `'auto'`, a model whose
   * weights, KV cache and compute buffers fit nowhere fails with `ERR_INSUFFICIENT_MEMORY`
   * before anything is allocated. Default `0` (CPU only), so a machine without a GPU backend
   * behaves the same as one with it until the caller opts in. Ignored by CPU-only builds.
   */
  gpuLayers?: number | 'max' | 'auto';
  /** What `gpuLayers: 'auto'` plans for; ignored otherwise. */
  autoFit?: AutoFitOptions;
  /**
   * The GPU (index among the GPU devices llama.cpp uses) that holds the whole model when
   * `splitMode` is `'none'`, and the small intermediate results when it is `'row'`
   * (llama.cpp's `--main-gpu`). An integer `>= 0`. Default: llama.cpp's (`0`).
   */
  mainGpu?: number;
  /**
   * How a model is spread over several GPUs (llama.cpp's `--split-mode`): `'none'` (one GPU,
   * `mainGpu`), `'layer'` (whole layers and their KV cache per GPU) or `'row'` (rows of each
   * weight split across GPUs, where the backend supports it). Default: llama.cpp's (`'layer'`).
   */
  splitMode?: SplitMode;
  /**
   * Share of the offloaded model per GPU, in device order (llama.cpp's `--tensor-split`), e.g.
   * `[3, 1]`: proportions, not percentages. Non-negative finite numbers, at most
   * `llama_max_devices()` (16) of them. Default: by each device's free memory.
   */
  tensorSplit?: readonly number[];
  /**
   * Keep the Mixture-of-Experts expert tensors of **all** layers in host memory while the rest
   * of each offloaded layer goes to the GPU (llama.cpp's `--cpu-moe`). Default `false`.
   * No effect on a dense model or a CPU-only build.
   */
  cpuMoe?: boolean;
  /**
   * Keep the expert tensors of the **first N** layers in host memory (llama.cpp's
   * `--n-cpu-moe N`). An integer `>= 0`; values beyond the layer count mean all layers.
   * Default `0`. Ignored when `cpuMoe` is `true`.
   */
  nCpuMoe?: number;
  /**
   * Place tensors by name (llama.cpp's `--override-tensor`): each tensor goes to the buffer of
   * the first entry whose `pattern` (a regular expression searched in the tensor name, e.g.
   * `'blk\\.[0-9]+\\.ffn_down'`) matches it. `device` is `'cpu'` (host memory) or a device
   * name from {@link listDevices} (case-insensitive), meaning that device's default buffer.
   * Patterns are run by C++ `std::regex` (ECMAScript grammar): no lookbehind or named groups.
   * Applied before `cpuMoe`/`nCpuMoe`, so an explicit entry wins. At most 1024 entries.
   */
  tensorOverrides?: readonly TensorOverride[];
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

/** See {@link LoadModelOptions.autoFit}. */
export interface AutoFitOptions {
  /**
   * The context the offload must leave room for (size, batch sizes, KV cache types), as it
   * will be passed to {@link Model.createContext}. Default: the {@link ContextOptions} defaults.
   */
  context?: ContextOptions;
  /** Bytes to keep free on each GPU, a non-negative integer. Default 1 GiB, as llama.cpp's `--fit`. */
  margin?: number;
}

/** Default {@link AutoFitOptions.margin}: llama.cpp's own per-device fit target. */
export const DEFAULT_FIT_MARGIN = 1024 * 1024 * 1024;

/** How llama.cpp spreads a model over several GPUs; see {@link LoadModelOptions.splitMode}. */
export type SplitMode = 'none' | 'layer' | 'row';

/** One entry of {@link LoadModelOptions.tensorOverrides}. */
export interface TensorOverride {
  /** Regular expression searched in each tensor name (e.g. `blk.3.ffn_up_exps.weight`). */
  pattern: string;
  /** `'cpu'` for host memory, or a device name from {@link listDevices}. */
  device: string;
}

/** {@link LoadModelOptions} after validation, with defaults applied. @internal */
export interface ResolvedLoadModelOptions {
  /** Native convention: -1 = all layers; 'auto' is resolved by loadModel before loading. */
  gpuLayers: number | 'auto';
  /** Validated `autoFit.context` (resolved later, against the model's trained length) and margin. */
  autoFit: { context: unknown; margin: number };
  /** `undefined`: llama.cpp's default. */
  mainGpu: number | undefined;
  splitMode: SplitMode | undefined;
  tensorSplit: number[] | undefined;
  cpuMoe: boolean;
  nCpuMoe: number;
  tensorOverrides: TensorOverride[];
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
  cpuMoe: false,
  nCpuMoe: 0,
});

/** Options that say where a model's tensors go; shared by loadModel and estimateMemory. @internal */
export const PLACEMENT_KEYS = ['gpuLayers', 'mainGpu', 'splitMode', 'tensorSplit', 'cpuMoe', 'nCpuMoe', 'tensorOverrides'] as const;

const LOAD_MODEL_KEYS = [...PLACEMENT_KEYS, 'autoFit', 'useMmap', 'useMlock', 'vocabOnly', 'onProgress', 'signal'] as const;

/** llama.cpp's `llama_max_devices()`: the length of its tensor-split array. */
export const MAX_DEVICES = 16;
/** Most {@link LoadModelOptions.tensorOverrides} entries (llama.cpp allows 4096 overrides in all). */
export const MAX_TENSOR_OVERRIDES = 1024;

/** llama.cpp's `LLM_FFN_EXPS_REGEX` (common/common.h): the expert tensors of a MoE layer. */
export const EXPERT_TENSORS_PATTERN = '\\.ffn_(up|down|gate|gate_up)_(ch|)exps';

/**
 * Validates {@link LoadModelOptions} and applies defaults. @internal
 * @param deviceNames - the device names `tensorOverrides` may name (besides `'cpu'`); omitted: not checked here
 */
export function resolveLoadModelOptions(options: unknown, deviceNames?: () => readonly string[]): ResolvedLoadModelOptions {
  const o = optionsObject(options, 'loadModel options', LOAD_MODEL_KEYS);
  return {
    gpuLayers: o.gpuLayers === undefined ? LOAD_MODEL_DEFAULTS.gpuLayers : gpuLayersOption(o.gpuLayers),
    autoFit: autoFitOption(o.autoFit),
    mainGpu: o.mainGpu === undefined ? undefined : integerOption('mainGpu', o.mainGpu, { min: 0, max: MAX_DEVICES - 1 }),
    splitMode: o.splitMode === undefined ? undefined : enumOption('splitMode', o.splitMode, SPLIT_MODES),
    tensorSplit: o.tensorSplit === undefined ? undefined : tensorSplitOption(o.tensorSplit),
    cpuMoe: o.cpuMoe === undefined ? LOAD_MODEL_DEFAULTS.cpuMoe : booleanOption('cpuMoe', o.cpuMoe),
    nCpuMoe: o.nCpuMoe === undefined ? LOAD_MODEL_DEFAULTS.nCpuMoe : integerOption('nCpuMoe', o.nCpuMoe, { min: 0, max: INT32_MAX }),
    tensorOverrides: o.tensorOverrides === undefined ? [] : tensorOverridesOption(o.tensorOverrides, deviceNames),
    useMmap: o.useMmap === undefined ? LOAD_MODEL_DEFAULTS.useMmap : booleanOption('useMmap', o.useMmap),
    useMlock: o.useMlock === undefined ? LOAD_MODEL_DEFAULTS.useMlock : booleanOption('useMlock', o.useMlock),
    vocabOnly: o.vocabOnly === undefined ? LOAD_MODEL_DEFAULTS.vocabOnly : booleanOption('vocabOnly', o.vocabOnly),
    onProgress: o.onProgress === undefined ? undefined : functionOption<(progress: number) => void>('onProgress', o.onProgress),
    signal: o.signal === undefined ? undefined : signalOption('signal', o.signal),
  };
}

const SPLIT_MODES = ['none', 'layer', 'row'] as const;
/** llama_split_mode numbers. @internal */
export const SPLIT_MODE_NUMBERS = { none: 0, layer: 1, row: 2 } as const;

/** Validates a string option against its allowed values (wrong type: TypeError; unknown value: RangeError). @internal */
export function enumOption<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  const expected = `one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  if (typeof value !== 'string') throw typeError(name, expected, value);
  if (!(allowed as readonly string[]).includes(value)) throw rangeError(name, expected, value);
  return value as T;
}

function tensorSplitOption(value: unknown): number[] {
  const expected = `an array of at most ${MAX_DEVICES} non-negative finite numbers`;
  if (!Array.isArray(value)) throw typeError('tensorSplit', expected, value);
  if (value.length > MAX_DEVICES) {
    throw new RangeError(`Invalid option "tensorSplit": expected ${expected}, got ${value.length} numbers`);
  }
  return value.map((item: unknown, index) => numberOption(`tensorSplit[${index}]`, item, { min: 0 }));
}

function tensorOverridesOption(value: unknown, deviceNames: (() => readonly string[]) | undefined): TensorOverride[] {
  const expected = `an array of at most ${MAX_TENSOR_OVERRIDES} { pattern, device } objects`;
  if (!Array.isArray(value)) throw typeError('tensorOverrides', expected, value);
  if (value.length > MAX_TENSOR_OVERRIDES) {
    throw new RangeError(`Invalid option "tensorOverrides": expected ${expected}, got ${value.length} entries`);
  }
  let known: string[] | undefined;
  return value.map((item: unknown, index) => {
    const name = `tensorOverrides[${index}]`;
    const entry = optionsObject(item, `${name} entry`, ['pattern', 'device']);
    if (item === undefined) throw typeError(name, 'a { pattern, device } object', item);
    const pattern = entry.pattern;
    if (typeof pattern !== 'string') throw typeError(`${name}.pattern`, 'a regular expression string', pattern);
    if (pattern.length === 0) throw rangeError(`${name}.pattern`, 'a non-empty regular expression string', pattern);
    try {
      new RegExp(pattern);
    } catch (error) {
      throw rangeError(`${name}.pattern`, `a valid regular expression (${(error as Error).message})`, pattern);
    }
    // JS accepts both, C++ std::regex (which llama.cpp runs) rejects them.
    if (pattern.includes('(?<')) {
      throw rangeError(`${name}.pattern`, 'a std::regex ECMAScript pattern (no lookbehind, no named groups)', pattern);
    }
    const device = entry.device;
    if (typeof device !== 'string') throw typeError(`${name}.device`, '"cpu" or a device name from listDevices()', device);
    if (device.toLowerCase() !== 'cpu' && deviceNames) {
      known ??= deviceNames().map((n) => n.toLowerCase());
      if (!known.includes(device.toLowerCase())) {
        throw rangeError(`${name}.device`, `"cpu" or a device name from listDevices() (${known.join(', ')})`, device);
      }
    }
    return { pattern, device };
  });
}

/**
 * The override list a load hands to llama.cpp: the caller's entries first (first match wins),
 * then `cpuMoe` (all layers' experts to the host) or `nCpuMoe` (layers `0 … N-1`), written as
 * llama.cpp's `--cpu-moe` / `--n-cpu-moe` write them. @internal
 *
 * @param layerCount - the model's block count, to bound `nCpuMoe` (undefined: unknown)
 */
export function placementOverrides(o: ResolvedLoadModelOptions, layerCount: number | undefined): TensorOverride[] {
  const out = [...o.tensorOverrides];
  if (o.cpuMoe) {
    out.push({ pattern: EXPERT_TENSORS_PATTERN, device: 'cpu' });
  } else if (o.nCpuMoe > 0) {
    const layers = Math.min(o.nCpuMoe, layerCount ?? o.nCpuMoe, 4096 - out.length - 1);
    if (layers >= (layerCount ?? Infinity)) out.push({ pattern: EXPERT_TENSORS_PATTERN, device: 'cpu' });
    else for (let i = 0; i < layers; i++) out.push({ pattern: `blk\\.${i}${EXPERT_TENSORS_PATTERN}`, device: 'cpu' });
  }
  return out;
}

function gpuLayersOption(value: unknown): number | 'auto' {
  if (value === 'max') return -1;
  if (value === 'auto') return 'auto';
  const expected = `an integer in [0, ${INT32_MAX}], "max" or "auto"`;
  if (typeof value !== 'number' || Number.isNaN(value)) throw typeError('gpuLayers', expected, value);
  return integerOption('gpuLayers', value, { min: 0, max: INT32_MAX }, ', "max" or "auto"');
}

function autoFitOption(value: unknown): { context: unknown; margin: number } {
  const o = optionsObject(value, 'autoFit options', ['context', 'margin']);
  if (o.context !== undefined) resolveContextOptions(o.context, INT32_MAX); // types and keys now; bounds at load
  return {
    context: o.context,
    margin: o.margin === undefined ? DEFAULT_FIT_MARGIN : integerOption('autoFit.margin', o.margin, { min: 0, max: Number.MAX_SAFE_INTEGER }),
  };
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
   * Generations the context runs at once, `[1, min(256, contextSize)]` (llama.cpp's
   * `--parallel`). Concurrent `generate` / `chat` calls are decoded together, one batch per
   * step (continuous batching); further calls wait for a free sequence, first come first
   * served. The KV cache is split evenly: each generation holds at most
   * `contextSize / sequences` tokens ({@link Context.sequenceSize}). Default `1`.
   */
  sequences?: number;
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

/** Context parameters after validation, with defaults applied. @internal */
export interface ResolvedContextOptions {
  contextSize: number;
  batchSize: number;
  ubatchSize: number;
  threads: number;
  threadsBatch: number;
  poll: number;
  /** Generations served at once (llama_context_params.n_seq_max). */
  sequences: number;
  embeddings: boolean;
  /** undefined: the model's own (resolved by the model, which knows its metadata). */
  pooling: Pooling | undefined;
  flashAttention: FlashAttention;
  kvCacheTypeK: KvCacheType;
  kvCacheTypeV: KvCacheType;
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
    flashAttention,
    kvCacheTypeK,
    kvCacheTypeV,
    embeddings,
    pooling,
  };
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
  /**
   * Keep the KV cache entries of the longest common prefix of this prompt and what the context
   * evaluated last (its previous prompt and generated tokens), and evaluate only the rest, as
   * llama.cpp's server does (`cache_prompt`). `false` evaluates the whole prompt from an empty
   * sequence. Default `true`.
   */
  cachePrompt?: boolean;
  /**
   * Among requests to the same context, an integer in `[-100, 100]`: a higher one gets a free
   * sequence first and its prompt decoded first; equal priorities are served first come first
   * served. Default `0`.
   */
  priority?: number;
  /**
   * Constrains the output to a GBNF grammar (llama.cpp's grammar format, start rule `root`): at
   * every step only tokens that keep the text a prefix of the grammar's language can be chosen,
   * and end of generation only once the text is complete. A grammar that does not compile (syntax
   * error, undefined rule, left recursion, no `root`, empty) rejects `result` with `ERR_GRAMMAR`
   * before anything is evaluated. Not together with `jsonSchema`.
   */
  grammar?: string;
  /**
   * Constrains the output to JSON that matches this schema, through the grammar llama.cpp's
   * `json_schema_to_grammar` makes of it (see {@link jsonSchemaToGrammar}). A schema it cannot
   * convert rejects `result` with `ERR_GRAMMAR`. Not together with `grammar`.
   */
  jsonSchema?: JsonSchema;
  /**
   * Added to the logits of the given tokens before sampling: token id → bias, as an object, a
   * `Map` or `[token, bias]` pairs. `-Infinity` bans a token; a large positive bias all but forces
   * it. Ids in `[0, vocabularySize)`, biases in `[-1e30, 1e30]` or `-Infinity`.
   */
  logitBias?: LogitBias;
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
  cachePrompt: boolean;
  priority: number;
  grammar: string | undefined;
  /** The schema as JSON text. */
  jsonSchema: string | undefined;
  logitBias: LogitBiasEntries;
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
  cachePrompt: true,
  priority: 0,
});

/** Largest accepted seed; llama.cpp reads 0xFFFFFFFF (LLAMA_DEFAULT_SEED) as "random". */
export const MAX_SEED = 0xffff_fffe;
/** Most stop strings per generation: each one is searched on every token. */
export const MAX_STOP_STRINGS = 16;

/** The keys of {@link GenerateOptions}. @internal */
export const GENERATE_KEYS = [
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
  'cachePrompt',
  'priority',
  'grammar',
  'jsonSchema',
  'logitBias',
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
  if (o.grammar !== undefined && o.jsonSchema !== undefined) {
    throw typeError('jsonSchema', 'undefined when "grammar" is given (one constraint per generation)', o.jsonSchema);
  }
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
    cachePrompt: o.cachePrompt === undefined ? d.cachePrompt : booleanOption('cachePrompt', o.cachePrompt),
    priority: o.priority === undefined ? d.priority : integerOption('priority', o.priority, { min: -100, max: 100 }),
    grammar: o.grammar === undefined ? undefined : grammarOption(o.grammar),
    jsonSchema: o.jsonSchema === undefined ? undefined : jsonSchemaOption(o.jsonSchema),
    logitBias: o.logitBias === undefined ? [] : logitBiasOption(o.logitBias),
  };
}
