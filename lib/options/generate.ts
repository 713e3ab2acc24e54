/**
 * Options of {@link Context.generate}: length, sampling, stop strings, prompt cache, priority
 * and constraints; their defaults (llama.cpp's own) and validation.
 */
import { getRandomValues } from 'node:crypto';
import { grammarOption, jsonSchemaOption, logitBiasOption, type JsonSchema, type LogitBias, type LogitBiasEntries } from './constraints.js';
import {
  INT32_MAX,
  booleanOption,
  enumOption,
  integerOption,
  numberOption,
  optionsObject,
  signalOption,
  stringListOption,
  typeError,
} from '../validate.js';
/**
 * Options of {@link Context.generate}. The sampling defaults are llama.cpp's own
 * (`common_params_sampling`, as llama-cli, llama-server and llama-cpp-python use them), so
 * `{ temperature: 0 }` alone is exactly llama.cpp's greedy decoding. A model card's
 * recommendations are passed explicitly, e.g. Mixtral-8x7B-Instruct's
 * `{ temperature: 0.7, repeatPenalty: 1.1 }`.
 */
export interface GenerateOptions {
  /** Most tokens to generate; `-1` = until end of generation or the context is full. Default `-1`. */
  maxTokens?: number;
  /** Sampling temperature, finite `>= 0`; `0` = greedy (always the most likely token). Default `0.8`. */
  temperature?: number;
  /** Keep only the `topK` most likely tokens; `0` = off. Default `40`. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP`, `(0, 1]`. Default `0.95`. */
  topP?: number;
  /** Drop tokens less likely than `minP` × the best token's probability, `[0, 1]`. Default `0.05`. */
  minP?: number;
  /** Penalty for repeating recent tokens, finite `> 0`; `1` = off. Default `1` (off). */
  repeatPenalty?: number;
  /**
   * How many recent tokens the repeat, frequency and presence penalties look at; `-1` = the
   * whole context, `0` = off. Default `64`.
   */
  repeatLastN?: number;
  /**
   * Subtracted from a token's logit once per time it occurs in the last `repeatLastN` tokens
   * (OpenAI's `frequency_penalty`, llama.cpp's `--frequency-penalty`), a finite number; `0` =
   * off, negative values favour repetition. Default `0`.
   */
  frequencyPenalty?: number;
  /**
   * Subtracted from a token's logit once if it occurs in the last `repeatLastN` tokens
   * (OpenAI's `presence_penalty`, llama.cpp's `--presence-penalty`), a finite number; `0` =
   * off. Default `0`.
   */
  presencePenalty?: number;
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
  /**
   * Report the log-probability of every generated token (in each chunk's and the result's
   * `logprobs`). They are of the model's own distribution at that step — the softmax of its
   * logits before any sampler stage (temperature, penalties, logit bias, grammar) — as
   * llama-server reports them by default and OpenAI's `logprobs` describe. Costs one pass over
   * the vocabulary per token. Default `false`.
   */
  logprobs?: boolean;
  /**
   * With `logprobs`, also report this many of the most likely tokens at each step (most likely
   * first), an integer in `[0, 100]`. Default `0`.
   */
  topLogprobs?: number;
  /**
   * Where the next token is chosen. On the device: inside the decode graph (llama.cpp's backend
   * sampling, on the device that computes the output layer), so only the chosen token comes
   * back instead of a row of logits — possible when every stage of the chain can run there:
   * greedy (`temperature: 0`), or `topK`, `topP`, `minP`, `temperature` and the seeded draw.
   * Penalties, `logitBias`, `grammar`, `jsonSchema` and `logprobs` keep the whole chain on the
   * host. `'auto'`: on the device when the output layer is on a local CUDA or Metal GPU
   * (`gpuLayers` ≠ 0), where it saves copying the logits back each token; never on Vulkan, even
   * with `'on'` (llama.cpp's Vulkan backend sampling aborted the process in CI); on the host when the model runs on
   * the CPU, where it saves nothing, and for models split over RPC servers (`'on'` samples on the
   * remote there, sending back only the token; a server that dies at a request's start is then
   * reported as `ERR_OUT_OF_MEMORY`, not `ERR_RPC`) (llama.cpp's own default is the host:
   * `--backend-sampling` off). `'on'`: on the device whenever the chain allows, the CPU backend
   * included. `'off'`: always on the host. The result's `sampledOn` says which was used.
   * Greedy tokens are the same either way except on exact ties; a seeded draw is reproducible on
   * each path but not across them (see the guide's "Device sampling"). Default `'auto'`.
   */
  deviceSampling?: DeviceSampling;
}

/** Values of {@link GenerateOptions.deviceSampling}. */
export type DeviceSampling = 'auto' | 'on' | 'off';
/** The accepted values of {@link GenerateOptions.deviceSampling}. @internal */
export const DEVICE_SAMPLING_MODES: readonly DeviceSampling[] = ['auto', 'on', 'off'];

/** {@link GenerateOptions} after validation, with defaults applied. @internal */
export interface ResolvedGenerateOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  repeatLastN: number;
  frequencyPenalty: number;
  presencePenalty: number;
  seed: number;
  stop: readonly string[];
  signal: AbortSignal | undefined;
  cachePrompt: boolean;
  priority: number;
  grammar: string | undefined;
  /** The schema as JSON text. */
  jsonSchema: string | undefined;
  logitBias: LogitBiasEntries;
  /** `-1`: no log-probabilities; `k >= 0`: the chosen token's and the `k` most likely. */
  topLogprobs: number;
  deviceSampling: DeviceSampling;
}

/**
 * Defaults of {@link GenerateOptions} (the seed default is random per call). The sampling
 * values are those of llama.cpp's `common_params_sampling` in the pinned tree
 * (vendor/llama.cpp/common/common.h: `temp`, `top_k`, `top_p`, `min_p`, `penalty_repeat`,
 * `penalty_last_n`, `penalty_freq`, `penalty_present`); test/greedy-parity.test.ts checks them against that header.
 */
export const GENERATE_DEFAULTS = Object.freeze({
  maxTokens: -1,
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1,
  repeatLastN: 64,
  frequencyPenalty: 0,
  presencePenalty: 0,
  cachePrompt: true,
  priority: 0,
  deviceSampling: 'auto',
});

/** Largest accepted seed; llama.cpp reads 0xFFFFFFFF (LLAMA_DEFAULT_SEED) as "random". */
export const MAX_SEED = 0xffff_fffe;
/** Most alternatives `topLogprobs` may ask for per token. */
export const MAX_TOP_LOGPROBS = 100;
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
  'frequencyPenalty',
  'presencePenalty',
  'seed',
  'stop',
  'signal',
  'cachePrompt',
  'priority',
  'grammar',
  'jsonSchema',
  'logitBias',
  'logprobs',
  'topLogprobs',
  'deviceSampling',
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
  const logprobs = o.logprobs === undefined ? false : booleanOption('logprobs', o.logprobs);
  const topLogprobs = o.topLogprobs === undefined ? 0 : integerOption('topLogprobs', o.topLogprobs, { min: 0, max: MAX_TOP_LOGPROBS });
  if (topLogprobs > 0 && !logprobs) {
    throw typeError('logprobs', 'true when "topLogprobs" is given (the alternatives come with the log-probabilities)', o.logprobs);
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
    frequencyPenalty: o.frequencyPenalty === undefined ? d.frequencyPenalty : numberOption('frequencyPenalty', o.frequencyPenalty, {}),
    presencePenalty: o.presencePenalty === undefined ? d.presencePenalty : numberOption('presencePenalty', o.presencePenalty, {}),
    seed: o.seed === undefined ? randomSeed() : integerOption('seed', o.seed, { min: 0, max: MAX_SEED }),
    stop: o.stop === undefined ? [] : Object.freeze([...new Set(stringListOption('stop', o.stop, MAX_STOP_STRINGS))]),
    signal: o.signal === undefined ? undefined : signalOption('signal', o.signal),
    cachePrompt: o.cachePrompt === undefined ? d.cachePrompt : booleanOption('cachePrompt', o.cachePrompt),
    priority: o.priority === undefined ? d.priority : integerOption('priority', o.priority, { min: -100, max: 100 }),
    grammar: o.grammar === undefined ? undefined : grammarOption(o.grammar),
    jsonSchema: o.jsonSchema === undefined ? undefined : jsonSchemaOption(o.jsonSchema),
    logitBias: o.logitBias === undefined ? [] : logitBiasOption(o.logitBias),
    topLogprobs: logprobs ? topLogprobs : -1,
    deviceSampling:
      o.deviceSampling === undefined ? d.deviceSampling : enumOption('deviceSampling', o.deviceSampling, DEVICE_SAMPLING_MODES),
  };
}
