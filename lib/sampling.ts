/**
 * Sampler chain policy: which llama.cpp samplers run, in which order, with which values.
 * The addon only builds the chain it is given (mechanism); the order mirrors llama.cpp's
 * common sampler (`common/sampling.cpp`) so results are comparable with llama-cli.
 */
import { checkLogitBiasTokens } from './options/constraints.js';
import type { NativeSamplerStage } from './native.js';
import type { ResolvedGenerateOptions } from './options/generate.js';

/**
 * The sampling settings the chain is built from (a subset of the resolved generate options).
 * The constraints (`logitBias`, `grammar`, `jsonSchema`) may be left out: none.
 * @internal
 */
export type SamplingSettings = Pick<
  ResolvedGenerateOptions,
  'temperature' | 'topK' | 'topP' | 'minP' | 'repeatPenalty' | 'repeatLastN' | 'seed'
> &
  Partial<Pick<ResolvedGenerateOptions, 'frequencyPenalty' | 'presencePenalty' | 'logitBias' | 'grammar' | 'jsonSchema'>>;

/** Every truncating sampler keeps at least this many candidates, so the chain never empties. */
const MIN_KEEP = 1;

/**
 * Builds the sampler chain: logitBias → penalties → grammar → (temperature 0: greedy) |
 * topK → topP → minP → temperature → dist(seed). Stages that would do nothing are left out, so
 * they cost nothing.
 *
 * As in llama.cpp's common sampler, the logit bias comes first and the penalties next. The
 * grammar (from `grammar` or `jsonSchema`) follows them, before anything truncates or draws:
 * it sets the logit of every token that cannot continue the grammar to -inf, so top-k/p, min-p
 * and the final draw (or argmax) only ever see tokens the grammar allows — the distribution of
 * llama.cpp's `common_sampler_sample` with `grammar_first`, which its default path also falls
 * back to whenever the unconstrained pick breaks the grammar. Bias and penalties only shift
 * logits, so running them before the grammar changes nothing about what it allows. The addon
 * ends a chain with a grammar or a bias with a guard stage (see src/grammar.h), and never takes
 * its argmax shortcut for one.
 *
 * @param settings - validated sampling settings
 * @param contextSize - the context's size; `repeatLastN: -1` means "the whole context", which
 *   llama.cpp's penalties sampler does not understand by itself (it clamps -1 to 0 = off)
 * @param vocabularySize - the model's vocabulary size, to check `logitBias` token ids (omitted:
 *   the addon checks them)
 * @throws RangeError - a `logitBias` token id outside the vocabulary
 * @internal
 */
export function buildSamplerChain(settings: SamplingSettings, contextSize: number, vocabularySize?: number): NativeSamplerStage[] {
  const chain: NativeSamplerStage[] = [];
  const bias = settings.logitBias ?? [];
  if (bias.length > 0) {
    if (vocabularySize !== undefined) checkLogitBiasTokens(bias, vocabularySize);
    chain.push({
      type: 'logitBias',
      tokens: Int32Array.from(bias, ([token]) => token),
      biases: Float32Array.from(bias, ([, value]) => value),
    });
  }
  const lastN = settings.repeatLastN === -1 ? contextSize : settings.repeatLastN;
  const frequency = settings.frequencyPenalty ?? 0;
  const presence = settings.presencePenalty ?? 0;
  if ((settings.repeatPenalty !== 1 || frequency !== 0 || presence !== 0) && lastN !== 0) {
    chain.push({ type: 'penalties', lastN, repeat: settings.repeatPenalty, frequency, presence });
  }
  if (settings.grammar !== undefined) chain.push({ type: 'grammar', grammar: settings.grammar });
  else if (settings.jsonSchema !== undefined) chain.push({ type: 'jsonSchema', schema: settings.jsonSchema });
  if (settings.temperature === 0) {
    // Greedy is exact and seed-independent; truncating samplers cannot change the argmax.
    chain.push({ type: 'greedy' });
    return chain;
  }
  if (settings.topK > 0) chain.push({ type: 'topK', k: settings.topK });
  if (settings.topP < 1) chain.push({ type: 'topP', p: settings.topP, minKeep: MIN_KEEP });
  if (settings.minP > 0) chain.push({ type: 'minP', p: settings.minP, minKeep: MIN_KEEP });
  chain.push({ type: 'temperature', t: settings.temperature });
  chain.push({ type: 'dist', seed: settings.seed });
  return chain;
}

/**
 * Where a model's output layer runs, as device sampling sees it: `'gpu'` (CUDA, Metal: sampled
 * there by default), `'vulkan'` (never sampled there, see samplesOnDevice) or `'cpu'` (the CPU
 * backend, or RPC servers: only with `deviceSampling: 'on'`). @internal
 */
export type OutputDevice = 'gpu' | 'vulkan' | 'cpu';

/** The stages llama.cpp's backend sampling runs in the decode graph (those implementing its backend interface that this library uses). */
const DEVICE_STAGES: ReadonlySet<NativeSamplerStage['type']> = new Set(['greedy', 'dist', 'temperature', 'topK', 'topP', 'minP']);

/**
 * Whether a generation asks the addon to sample inside the decode graph (llama.cpp's backend
 * sampling, see `GenerateOptions.deviceSampling`): `'on'`, or `'auto'` with the output layer
 * on a local GPU; no log-probabilities (they need the raw logits on the host); and a chain whose
 * every stage runs there as on the host.
 * Penalties, logit biases and grammars keep the chain on the host, as llama.cpp's server does
 * for grammars; its backend penalties sampler exists, but is left out until it is proven equal.
 * The addon checks the same stage list again and reports where sampling actually ran.
 *
 * @param chain - the stages {@link buildSamplerChain} made
 * @param settings - the resolved `deviceSampling` and `topLogprobs`
 * @param vocabularySize - the model's vocabulary: llama.cpp's backend top-k needs `k` within it
 * @param outputDevice - where the model's output layer runs
 * @internal
 */
export function samplesOnDevice(
  chain: readonly NativeSamplerStage[],
  settings: Pick<ResolvedGenerateOptions, 'deviceSampling' | 'topLogprobs'>,
  vocabularySize: number,
  outputDevice: OutputDevice,
): boolean {
  if (settings.deviceSampling === 'off' || settings.topLogprobs >= 0) return false;
  // llama.cpp's Vulkan backend sampling corrupts the heap on lavapipe when a sequence's sampler
  // is replaced; its own test-backend-sampler (set_sampler, cpu_mixed) aborts there too. Never
  // there, not even with 'on' (docs/guides/generation-and-streaming.md, "Device sampling").
  if (outputDevice === 'vulkan') return false;
  if (settings.deviceSampling === 'auto' && outputDevice !== 'gpu') return false;
  return chain.every((stage) => DEVICE_STAGES.has(stage.type) && (stage.type !== 'topK' || stage.k <= vocabularySize));
}
