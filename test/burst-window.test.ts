// burstWindowMs: an idle context waits for more requests after one arrives, so that a burst's
// prompts are admitted in the same step; a full house or a busy context never waits.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadModel, type Model } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';

const GREEDY = { temperature: 0, cachePrompt: false, maxTokens: 4 } as const;

let model: Model;

before(async () => {
  model = await loadModel(await fixtureModel({ kind: 'llama', type: 'F32' }));
});

after(async () => {
  await model?.dispose();
});

/** When the first chunk of `generation` arrives (performance.now()). */
async function firstChunkAt(generation: AsyncIterable<unknown>): Promise<number> {
  for await (const _ of generation) return performance.now();
  throw new Error('no chunk');
}

describe('burstWindowMs', () => {
  it('holds an idle context until the requests arriving meanwhile can start with the first', async () => {
    await using context = await model.createContext({ contextSize: 512, batchSize: 64, sequences: 3, threads: 2, burstWindowMs: 1000 });
    const first = firstChunkAt(context.generate('The quick brown fox', GREEDY));
    await sleep(50);
    const secondStarted = performance.now();
    const second = firstChunkAt(context.generate('Once upon a time', GREEDY));
    const [a, b] = await Promise.all([first, second]);
    // Without the window the first request's prompt (a few ms on this model) would be decoded
    // and its first token out long before the second request arrived.
    assert.ok(a >= secondStarted, `the first request's first token (${a.toFixed(1)}) came before the second arrived (${secondStarted.toFixed(1)})`);
    assert.ok(b >= secondStarted);
  });

  it('does not wait once every sequence is taken', async () => {
    await using context = await model.createContext({ contextSize: 512, batchSize: 64, sequences: 2, threads: 2, burstWindowMs: 1000 });
    const started = performance.now();
    const results = await Promise.all([context.generate('Hello', GREEDY).result, context.generate('Zebra', GREEDY).result]);
    // Two requests fill the two sequences: admitted at once, not after the window (1 s, up to 4 s).
    assert.ok(performance.now() - started < 900, `took ${(performance.now() - started).toFixed(0)} ms`);
    for (const r of results) assert.equal(r.generatedTokens, 4);
  });

  it('with one sequence a lone request never waits', async () => {
    await using context = await model.createContext({ contextSize: 256, batchSize: 64, threads: 2, burstWindowMs: 1000 });
    const started = performance.now();
    const result = await context.generate('Hello', GREEDY).result;
    assert.ok(performance.now() - started < 900, `took ${(performance.now() - started).toFixed(0)} ms`);
    assert.equal(result.generatedTokens, 4);
  });

  it('gives the same tokens as a context without the window', async () => {
    await using plain = await model.createContext({ contextSize: 512, batchSize: 64, sequences: 2, threads: 2 });
    await using gathered = await model.createContext({ contextSize: 512, batchSize: 64, sequences: 2, threads: 2, burstWindowMs: 20 });
    const expected = await plain.generate('The quick brown fox', { ...GREEDY, maxTokens: 8 }).result;
    const actual = await gathered.generate('The quick brown fox', { ...GREEDY, maxTokens: 8 }).result;
    assert.deepEqual(actual.tokens, expected.tokens);
  });

  it('is validated', async () => {
    for (const [value, pattern] of [
      [-1, /burstWindowMs.*\[0, 1000\]/],
      [1001, /burstWindowMs.*\[0, 1000\]/],
      [Number.NaN, /burstWindowMs/],
      ['5', /burstWindowMs/],
    ] as const) {
      await assert.rejects(model.createContext({ burstWindowMs: value as number }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ERR_INVALID_ARG');
        assert.match(error.message, pattern);
        return true;
      });
    }
  });
});
