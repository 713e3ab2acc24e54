// Embeddings: pooled token states of an embedding context, checked against the TypeScript
// reference forward pass (test/reference/), which knows nothing of llama.cpp.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../lib/context.js';
import { isLlamaError } from '../lib/errors.js';
import { loadModel, type Model } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';
import { referenceHidden } from './reference/forward.js';
import { loadRefModel, type RefModel } from './reference/tensors.js';

const BASE = { contextSize: 256, batchSize: 64, threads: 2 } as const;
const TEXTS = ['Hello world', 'The quick brown fox jumps over the lazy dog', 'Ünïcödé 🦙'];

let model: Model;
let ref: RefModel;

before(async () => {
  const path = await fixtureModel({ kind: 'moe', type: 'F32' });
  [model, ref] = await Promise.all([loadModel(path), loadRefModel(path)]);
});

after(async () => {
  await model?.dispose();
});

async function withContext<T>(options: object, body: (context: Context) => Promise<T>): Promise<T> {
  const context = await model.createContext({ ...BASE, embeddings: true, ...options });
  try {
    return await body(context);
  } finally {
    await context.dispose();
  }
}

function normalized(values: Float32Array): Float32Array {
  const norm = Math.hypot(...values);
  return values.map((v) => v / norm);
}

/** The reference embedding of `tokens` pooled as llama.cpp's `pooling` does, normalised. */
function referenceEmbedding(tokens: number[], pooling: 'mean' | 'cls' | 'last'): Float32Array {
  const hidden = referenceHidden(ref, tokens);
  if (pooling === 'cls') return normalized(hidden[0]!);
  if (pooling === 'last') return normalized(hidden.at(-1)!);
  const mean = new Float32Array(hidden[0]!.length);
  for (const h of hidden) for (let i = 0; i < mean.length; i++) mean[i]! += h[i]! / hidden.length;
  return normalized(mean);
}

function maxDelta(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

describe('embeddings', () => {
  for (const pooling of ['mean', 'cls', 'last'] as const) {
    it(`pools the final hidden states ('${pooling}') as the reference forward pass does`, async () => {
      await withContext({ pooling }, async (context) => {
        for (const text of TEXTS) {
          const tokens = model.tokenize(text);
          const got = await context.embed(tokens);
          assert.equal(got.length, model.info.embeddingLength);
          const delta = maxDelta(got, referenceEmbedding(tokens, pooling));
          // Unit vectors of 64 values (~0.125 each): 1e-3 is under 1% of a typical value.
          assert.ok(delta < 1e-3, `${pooling} "${text}": max |Δ| ${delta}`);
        }
      });
    });
  }

  it("defaults to the model's pooling, or mean when it has none", async () => {
    await withContext({}, async (context) => {
      const tokens = model.tokenize(TEXTS[0]!);
      assert.ok(maxDelta(await context.embed(tokens), referenceEmbedding(tokens, 'mean')) < 1e-3);
    });
  });

  it('normalises unless asked not to', async () => {
    await withContext({}, async (context) => {
      const unit = await context.embed(TEXTS[1]!);
      const raw = await context.embed(TEXTS[1]!, { normalize: false });
      assert.ok(Math.abs(Math.hypot(...unit) - 1) < 1e-5);
      assert.ok(Math.abs(Math.hypot(...raw) - 1) > 1e-3, 'the raw vector is not already unit length');
      assert.ok(maxDelta(normalized(raw), unit) < 1e-6);
    });
  });

  it('gives concurrent embeddings the values they get alone', async () => {
    await withContext({ sequences: 3 }, async (context) => {
      const alone: Float32Array[] = [];
      for (const text of TEXTS) alone.push(await context.embed(text));
      const together = await Promise.all(TEXTS.map((text) => context.embed(text)));
      together.forEach((vector, i) => assert.ok(maxDelta(vector, alone[i]!) < 1e-5, `text ${i}`));
    });
  });

  it('rejects inputs longer than ubatchSize, and generation in an embedding context', async () => {
    await withContext({ ubatchSize: 16, batchSize: 16 }, async (context) => {
      await assert.rejects(context.embed('word '.repeat(40)), (error) => isLlamaError(error, 'ERR_CONTEXT_FULL'));
      assert.throws(() => context.generate('hi'), (error) => isLlamaError(error, 'ERR_INVALID_ARG'));
      assert.throws(() => context.createChatSession(), (error) => isLlamaError(error, 'ERR_INVALID_ARG'));
      await assert.rejects(context.embed([]), RangeError);
    });
  });

  it('needs ubatchSize divisible by sequences (llama.cpp would abort), and picks such a default', async () => {
    await withContext({ sequences: 3 }, async (context) => {
      const vectors = await Promise.all(TEXTS.map((text) => context.embed(text)));
      assert.equal(vectors.length, 3);
    });
    await assert.rejects(model.createContext({ ...BASE, embeddings: true, sequences: 3, ubatchSize: 64 }), /Invalid option "ubatchSize"/);
  });

  it('is refused by a generation context, and pooling needs embeddings', async () => {
    const context = await model.createContext(BASE);
    try {
      await assert.rejects(context.embed('hi'), (error) => isLlamaError(error, 'ERR_INVALID_ARG'));
    } finally {
      await context.dispose();
    }
    await assert.rejects(model.createContext({ ...BASE, pooling: 'mean' }), /Invalid option "pooling"/);
    await assert.rejects(model.createContext({ ...BASE, embeddings: true, pooling: 'max' as never }), /Invalid option "pooling"/);
  });
});
