/**
 * Sampler chain policy: which llama.cpp samplers run, in which order, with which values.
 * The addon only builds the chain it is given (mechanism); the order mirrors llama.cpp's
 * common sampler (`common/sampling.cpp`) so results are comparable with llama-cli.
 */
import type { NativeSamplerStage } from './native.js';
import type { ResolvedGenerateOptions } from './options.js';

/** The sampling settings the chain is built from (a subset of the resolved generate options). @internal */
export type SamplingSettings = Pick<
  ResolvedGenerateOptions,
  'temperature' | 'topK' | 'topP' | 'minP' | 'repeatPenalty' | 'repeatLastN' | 'seed'
>;

/** Every truncating sampler keeps at least this many candidates, so the chain never empties. */
const MIN_KEEP = 1;

/**
 * Builds the sampler chain: penalties → (temperature 0: greedy) | topK → topP → minP →
 * temperature → dist(seed). Stages that would do nothing are left out, so they cost nothing.
 *
 * @param settings - validated sampling settings
 * @param contextSize - the context's size; `repeatLastN: -1` means "the whole context", which
 *   llama.cpp's penalties sampler does not understand by itself (it clamps -1 to 0 = off)
 * @internal
 */
export function buildSamplerChain(settings: SamplingSettings, contextSize: number): NativeSamplerStage[] {
  const chain: NativeSamplerStage[] = [];
  const lastN = settings.repeatLastN === -1 ? contextSize : settings.repeatLastN;
  if (settings.repeatPenalty !== 1 && lastN !== 0) {
    chain.push({ type: 'penalties', lastN, repeat: settings.repeatPenalty, frequency: 0, presence: 0 });
  }
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
