// Token log-probabilities (`logprobs`, `topLogprobs`) and token pieces: checked against the
// logits `evaluate` returns for the same tokens, so the numbers are the model's, not plausible.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../lib/context.js';
import type { TokenLogprob } from '../lib/generation.js';
import { loadModel, type Model } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';

const CONTEXT = { contextSize: 256, batchSize: 64, threads: 2 } as const;
const PROMPT = 'The quick brown fox';

let model: Model;
let context: Context;

before(async () => {
  model = await loadModel(await fixtureModel({ kind: 'llama', type: 'F32' }));
  context = await model.createContext(CONTEXT);
});

after(async () => {
  await model?.dispose();
});

function assertInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: Error & { code?: string }) => error.code === 'ERR_INVALID_ARG' && message.test(error.message));
}

/** Natural-log softmax, in float64. */
function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const normalizer = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - normalizer);
}

function topIds(values: Float64Array, k: number): number[] {
  return Array.from(values.keys())
    .sort((a, b) => values[b]! - values[a]! || a - b)
    .slice(0, k);
}

/** Checks every entry against the log-softmax of the logits `evaluate` gives for the same prefix. */
async function assertMatchesEvaluate(prompt: number[], entries: TokenLogprob[], k: number): Promise<void> {
  const prefix = [...prompt];
  for (const entry of entries) {
    const expected = logSoftmax(await context.evaluate(prefix));
    assert.ok(Math.abs(entry.logprob - expected[entry.token]!) < 1e-3, `token ${entry.token}: ${entry.logprob} vs ${expected[entry.token]}`);
    assert.deepEqual(
      entry.topLogprobs.map((t) => t.token),
      topIds(expected, k),
    );
    for (const alt of entry.topLogprobs) assert.ok(Math.abs(alt.logprob - expected[alt.token]!) < 1e-3);
    prefix.push(entry.token);
  }
}

describe('logprobs', () => {
  it('greedy: each token is the most likely one, with the log-probability of the model', async () => {
    const prompt = model.tokenize(PROMPT);
    const generation = context.generate(prompt, { temperature: 0, maxTokens: 6, logprobs: true, topLogprobs: 5 });
    const streamed: TokenLogprob[] = [];
    for await (const chunk of generation) {
      assert.equal(chunk.logprobs?.length, chunk.tokens.length, 'one entry per token of the chunk');
      streamed.push(...chunk.logprobs!);
    }
    const result = await generation.result;
    assert.equal(result.tokens.length, 6);
    assert.deepEqual(result.logprobs, streamed);
    assert.deepEqual(
      streamed.map((e) => e.token),
      result.tokens,
    );
    for (const entry of streamed) {
      assert.equal(entry.topLogprobs.length, 5);
      assert.equal(entry.topLogprobs[0]!.token, entry.token, 'greedy picks the most likely token');
      assert.ok(entry.logprob <= 0);
      const mass = entry.topLogprobs.reduce((sum, t) => sum + Math.exp(t.logprob), 0);
      assert.ok(mass <= 1 + 1e-5, `the top five hold at most all of the probability (${mass})`);
    }
    await assertMatchesEvaluate(prompt, streamed, 5);
  });

  it('are of the raw distribution: sampler stages (temperature, logit bias) do not change them', async () => {
    const prompt = model.tokenize(PROMPT);
    const banned = (await context.generate(prompt, { temperature: 0, maxTokens: 1 }).result).tokens[0]!;
    const options = { temperature: 1.5, seed: 7, maxTokens: 4, logitBias: { [banned]: -Infinity }, logprobs: true, topLogprobs: 3 };
    const result = await context.generate(prompt, options).result;
    assert.notEqual(result.tokens[0], banned, 'the bias applied to sampling');
    assert.equal(result.logprobs![0]!.topLogprobs[0]!.token, banned, 'but not to the reported distribution');
    await assertMatchesEvaluate(prompt, result.logprobs!, 3);
  });

  it('topLogprobs 0 reports only the chosen tokens; without logprobs there are none', async () => {
    const only = await context.generate(PROMPT, { temperature: 0, maxTokens: 3, logprobs: true }).result;
    assert.equal(only.logprobs!.length, 3);
    for (const entry of only.logprobs!) assert.deepEqual(entry.topLogprobs, []);
    const generation = context.generate(PROMPT, { temperature: 0, maxTokens: 3 });
    for await (const chunk of generation) assert.equal(chunk.logprobs, undefined);
    assert.equal((await generation.result).logprobs, undefined);
  });

  it('stop at the token that completes a stop string, like the tokens', async () => {
    const free = await context.generate(PROMPT, { temperature: 0, maxTokens: 8 }).result;
    const stop = free.text.slice(Math.floor(free.text.length / 2), Math.floor(free.text.length / 2) + 2);
    const stopped = await context.generate(PROMPT, { temperature: 0, maxTokens: 8, stop: [stop], logprobs: true }).result;
    assert.equal(stopped.finishReason, 'stop');
    assert.deepEqual(
      stopped.logprobs!.map((e) => e.token),
      stopped.tokens,
    );
  });

  it('validates the options', () => {
    assertInvalid(() => context.generate(PROMPT, { logprobs: 1 as unknown as boolean }), /logprobs/);
    assertInvalid(() => context.generate(PROMPT, { logprobs: true, topLogprobs: 101 }), /topLogprobs.*100/);
    assertInvalid(() => context.generate(PROMPT, { logprobs: true, topLogprobs: 1.5 }), /topLogprobs/);
    assertInvalid(() => context.generate(PROMPT, { topLogprobs: 2 }), /logprobs/);
  });
});

describe('tokenPiece', () => {
  it('gives the bytes each token adds to the text, leading space included', () => {
    const tokens = model.tokenize('Hello world, héllo', { addSpecial: false });
    const text = Buffer.concat(tokens.map((t) => model.tokenPiece(t))).toString('utf8');
    assert.equal(text.trimStart(), model.detokenize(tokens));
    assert.ok(text.startsWith(' '), 'the first SentencePiece piece keeps its space');
    assert.equal(Buffer.from(model.tokenPiece(model.info.eosToken)).toString(), '</s>');
  });

  it('validates the id', () => {
    assertInvalid(() => model.tokenPiece(-1), /token/);
    assertInvalid(() => model.tokenPiece(model.info.vocabularySize), /token/);
    assertInvalid(() => model.tokenPiece(0.5), /token/);
  });
});
