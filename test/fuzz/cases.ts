/**
 * The fuzz cases: which base model and which mutations case `index` of run `seed` applies.
 * A (seed, index) pair always gives the same bytes, so any case can be rebuilt for replay.
 */
import { fixtureModel, type FixtureSpec } from '../fixtures/models.js';
import { cloneImage, getValue, readImage, writeImage, type ModelImage } from './image.js';
import * as meta from './mutate-meta.js';
import * as tensors from './mutate-tensors.js';
import * as vocab from './mutate-vocab.js';
import type { BaseFacts, Mutation } from './mutate-meta.js';
import { Rng } from './rng.js';

/** The models mutations start from: the suite's Mixtral-shaped and dense fixtures. */
export const BASE_SPECS: Readonly<Record<string, FixtureSpec>> = {
  moe: { kind: 'moe', type: 'Q8_0' },
  dense: { kind: 'llama', type: 'Q8_0' },
};

/** Mutations with their weights (how often each is drawn). */
const MUTATIONS: ReadonlyArray<readonly [string, Mutation, number]> = [
  ['hparam-int', meta.hyperParameterInt, 12],
  ['hparam-float', meta.hyperParameterFloat, 5],
  ['hparam-string', meta.hyperParameterString, 2],
  ['wrong-type', meta.wrongValueType, 8],
  ['missing-key', meta.missingKey, 6],
  ['architecture', meta.architecture, 4],
  ['alignment', meta.alignment, 4],
  ['experts', meta.experts, 8],
  ['blocks', meta.blocks, 5],
  ['norm-epsilon', meta.normEpsilon, 4],
  ['general', meta.generalKey, 2],
  ['vocab-tokens', vocab.vocabTokens, 10],
  ['vocab-scores', vocab.vocabScores, 4],
  ['vocab-types', vocab.vocabTypes, 6],
  ['special-ids', vocab.specialIds, 6],
  ['tokenizer-model', vocab.tokenizerModel, 8],
  ['chat-template', vocab.chatTemplate, 3],
  ['tensor-type', tensors.tensorType, 6],
  ['tensor-dims', tensors.tensorDims, 6],
  ['tensor-offset', tensors.tensorOffset, 3],
  ['tensor-name', tensors.tensorName, 6],
];
const TOTAL_WEIGHT = MUTATIONS.reduce((n, [, , w]) => n + w, 0);

/** The base images, read once per process. */
export interface Bases {
  readonly images: Readonly<Record<string, ModelImage>>;
  readonly facts: Readonly<Record<string, BaseFacts>>;
}

export async function loadBases(): Promise<Bases> {
  const images: Record<string, ModelImage> = {};
  const facts: Record<string, BaseFacts> = {};
  for (const [name, spec] of Object.entries(BASE_SPECS)) {
    const image = await readImage(await fixtureModel(spec));
    const num = (key: string): number => {
      const v = getValue(image, key);
      return v && v.type !== 'array' && v.type !== 'string' ? Number(v.value) : 0;
    };
    const tokens = getValue(image, 'tokenizer.ggml.tokens');
    images[name] = image;
    facts[name] = { arch: 'llama', layers: num('llama.block_count'), experts: num('llama.expert_count'), vocab: tokens?.type === 'array' ? tokens.value.length : 0 };
  }
  return { images, facts };
}

/** One case: what was done and the file's bytes. */
export interface FuzzCase {
  seed: number;
  index: number;
  base: string;
  /** One line per mutation, `kind: what`. */
  mutations: string[];
  bytes: Buffer;
}

function drawMutation(rng: Rng): readonly [string, Mutation, number] {
  let r = rng.below(TOTAL_WEIGHT);
  for (const m of MUTATIONS) {
    if (r < m[2]) return m;
    r -= m[2];
  }
  return MUTATIONS[0]!;
}

/** Builds case `index` of run `seed`. */
export function buildCase(bases: Bases, seed: number, index: number): FuzzCase {
  const rng = new Rng(`case:${index}`, seed);
  const base = rng.chance(0.6) ? 'moe' : 'dense';
  const image = cloneImage(bases.images[base]!);
  const facts = { ...bases.facts[base]! };
  const count = rng.chance(0.6) ? 1 : rng.chance(0.6) ? 2 : 3;
  const mutations: string[] = [];
  for (let i = 0; i < count; i++) {
    const [name, mutate] = drawMutation(rng);
    mutations.push(`${name}: ${mutate(image, rng, facts)}`);
  }
  return { seed, index, base, mutations, bytes: writeImage(image) };
}
