// Many generations in one context (continuous batching), and several contexts on one model.
// F32 fixtures: batched and one-at-a-time decoding then round alike, so greedy tokens must
// match exactly (quantized kernels may differ between batch shapes, as in llama.cpp).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../lib/context.js';
import { isLlamaError } from '../lib/errors.js';
import type { GenerationResult } from '../lib/generation.js';
import { loadModel, type Model } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';

const GREEDY = { temperature: 0, repeatPenalty: 1, cachePrompt: false } as const;
const PROMPTS = [
  'The quick brown fox',
  'Once upon a time in a land far away',
  'Hello',
  'Numbers: 1 2 3 4 5 6 7 8 9',
  'A longer prompt that takes a few more tokens than the others do, to mix lengths',
  'Zebra',
];
const MAX_TOKENS = [12, 7, 16, 9, 11, 5];

let model: Model;
/** One sequence: every request alone. */
let single: Context;
let expected: GenerationResult[];

before(async () => {
  model = await loadModel(await fixtureModel({ kind: 'moe', type: 'F32' }));
  single = await model.createContext({ contextSize: 512, batchSize: 64, threads: 2 });
  expected = [];
  for (const [i, prompt] of PROMPTS.entries()) {
    expected.push(await single.generate(prompt, { ...GREEDY, maxTokens: MAX_TOKENS[i] }).result);
  }
});

after(async () => {
  await model?.dispose();
});

async function withContext<T>(sequences: number, body: (context: Context) => Promise<T>): Promise<T> {
  const context = await model.createContext({ contextSize: 1024, batchSize: 64, threads: 2, sequences });
  try {
    return await body(context);
  } finally {
    await context.dispose();
  }
}

describe('continuous batching', () => {
  it('splits the context between its sequences', async () => {
    await withContext(4, async (context) => {
      assert.equal(context.sequences, 4);
      assert.equal(context.sequenceSize, context.size / 4);
    });
  });

  it('gives each concurrent request the tokens it gets alone', async () => {
    await withContext(4, async (context) => {
      const results = await Promise.all(
        PROMPTS.slice(0, 4).map((prompt, i) => context.generate(prompt, { ...GREEDY, maxTokens: MAX_TOKENS[i] }).result),
      );
      results.forEach((result, i) => {
        assert.deepEqual(result.tokens, expected[i]!.tokens, `request ${i}`);
        assert.equal(result.finishReason, expected[i]!.finishReason);
      });
    });
  });

  it('queues requests beyond the sequences and serves them as sequences free up', async () => {
    await withContext(2, async (context) => {
      const results = await Promise.all(
        PROMPTS.map((prompt, i) => context.generate(prompt, { ...GREEDY, maxTokens: MAX_TOKENS[i] }).result),
      );
      results.forEach((result, i) => assert.deepEqual(result.tokens, expected[i]!.tokens, `request ${i}`));
    });
  });

  it('lets requests join while others are generating', async () => {
    await withContext(3, async (context) => {
      const first = context.generate(PROMPTS[0]!, { ...GREEDY, maxTokens: MAX_TOKENS[0] });
      const late: Array<Promise<GenerationResult>> = [];
      for await (const chunk of first) {
        if (chunk.tokens.length > 0 && late.length < 2) {
          late.push(context.generate(PROMPTS[late.length + 1]!, { ...GREEDY, maxTokens: MAX_TOKENS[late.length + 1] }).result);
        }
      }
      assert.deepEqual((await first.result).tokens, expected[0]!.tokens);
      const results = await Promise.all(late);
      results.forEach((result, i) => assert.deepEqual(result.tokens, expected[i + 1]!.tokens, `late request ${i + 1}`));
    });
  });

  it('aborts one request without disturbing the others', async () => {
    await withContext(3, async (context) => {
      const controller = new AbortController();
      const victim = context.generate(PROMPTS[4]!, { ...GREEDY, signal: controller.signal });
      const others = [0, 1].map((i) => context.generate(PROMPTS[i]!, { ...GREEDY, maxTokens: MAX_TOKENS[i] }).result);
      let seen = 0;
      for await (const chunk of victim) {
        seen += chunk.tokens.length;
        if (seen >= 2) controller.abort();
      }
      const aborted = await victim.result;
      assert.equal(aborted.finishReason, 'abort');
      const results = await Promise.all(others);
      results.forEach((result, i) => assert.deepEqual(result.tokens, expected[i]!.tokens, `request ${i}`));
    });
  });

  it('applies each request its own stop strings and sampling', async () => {
    await withContext(3, async (context) => {
      const stopAt = expected[0]!.text.slice(3, 6);
      const [stopped, seeded, greedy] = await Promise.all([
        context.generate(PROMPTS[0]!, { ...GREEDY, maxTokens: MAX_TOKENS[0], stop: [stopAt] }).result,
        context.generate(PROMPTS[1]!, { temperature: 0.9, seed: 42, maxTokens: 8, cachePrompt: false }).result,
        context.generate(PROMPTS[2]!, { ...GREEDY, maxTokens: MAX_TOKENS[2] }).result,
      ]);
      assert.equal(stopped.finishReason, 'stop');
      assert.equal(stopped.text, expected[0]!.text.slice(0, expected[0]!.text.indexOf(stopAt)));
      const alone = await single.generate(PROMPTS[1]!, { temperature: 0.9, seed: 42, maxTokens: 8, cachePrompt: false }).result;
      assert.deepEqual(seeded.tokens, alone.tokens);
      assert.deepEqual(greedy.tokens, expected[2]!.tokens);
    });
  });

  it('rejects a prompt longer than a sequence, and only that one', async () => {
    await withContext(4, async (context) => {
      const long = 'word '.repeat(context.sequenceSize);
      const [tooLong, fine] = await Promise.allSettled([
        context.generate(long, GREEDY).result,
        context.generate(PROMPTS[0]!, { ...GREEDY, maxTokens: MAX_TOKENS[0] }).result,
      ]);
      assert.equal(tooLong.status, 'rejected');
      assert.ok(isLlamaError((tooLong as PromiseRejectedResult).reason, 'ERR_CONTEXT_FULL'));
      assert.equal(fine.status, 'fulfilled');
      assert.deepEqual((fine as PromiseFulfilledResult<GenerationResult>).value.tokens, expected[0]!.tokens);
    });
  });

  it('ends a generation that fills its sequence with finishReason "length"', async () => {
    await withContext(4, async (context) => {
      const result = await context.generate(PROMPTS[0]!, { ...GREEDY }).result;
      assert.equal(result.finishReason, 'length');
      assert.equal(result.promptTokens + result.generatedTokens, context.sequenceSize);
    });
  });

  it('fails every running and waiting request with ERR_DISPOSED on dispose', async () => {
    const context = await model.createContext({ contextSize: 512, batchSize: 64, threads: 2, sequences: 2 });
    const generations = PROMPTS.slice(0, 4).map((prompt) => context.generate(prompt, { ...GREEDY }));
    for await (const chunk of generations[0]!) if (chunk.tokens.length > 0) break;
    await context.dispose();
    for (const generation of generations.slice(1)) {
      await assert.rejects(generation.result, (error) => isLlamaError(error, 'ERR_DISPOSED'));
    }
  });

  it('admits waiting requests by priority, first come first served among equals', async () => {
    await withContext(1, async (context) => {
      const order: string[] = [];
      const run = (name: string, priority: number): Promise<void> =>
        context.generate(PROMPTS[2]!, { ...GREEDY, maxTokens: 3, priority }).result.then(() => {
          order.push(name);
        });
      // The only sequence is busy until this generation is aborted, well after the others
      // queued (ending it by maxTokens would race with their submission).
      const busy = context.generate(PROMPTS[0]!, { ...GREEDY });
      const waiting: Array<Promise<void>> = [];
      for await (const chunk of busy) {
        if (chunk.tokens.length > 0 && waiting.length === 0) {
          waiting.push(run('low-1', 0), run('low-2', 0), run('high', 10), run('lowest', -5));
          setTimeout(() => busy.abort(), 100);
        }
      }
      assert.equal((await busy.result).finishReason, 'abort');
      order.push('busy');
      await Promise.all(waiting);
      assert.deepEqual(order, ['busy', 'high', 'low-1', 'low-2', 'lowest']);
    });
  });

  it('keeps each chat session in a sequence of its own', async () => {
    await withContext(2, async (context) => {
      const sessions = [context.createChatSession(), context.createChatSession()];
      const options = { ...GREEDY, cachePrompt: true, maxTokens: 6 };
      await Promise.all(sessions.map((s, i) => s.send(`Hi from ${i}`, options).result));
      const second = await Promise.all(sessions.map((s, i) => s.send(`Again from ${i}`, options).result));
      for (const result of second) assert.ok(result.cachedTokens > 10, `cached ${result.cachedTokens}`);
    });
  });
});

describe('contexts sharing a model', () => {
  it('generate at the same time and give the results of one context alone', async () => {
    const contexts = await Promise.all([0, 1].map(() => model.createContext({ contextSize: 256, batchSize: 64, threads: 1 })));
    try {
      const results = await Promise.all(
        contexts.map((context, i) => context.generate(PROMPTS[i]!, { ...GREEDY, maxTokens: MAX_TOKENS[i] }).result),
      );
      results.forEach((result, i) => assert.deepEqual(result.tokens, expected[i]!.tokens, `context ${i}`));
    } finally {
      await Promise.all(contexts.map((context) => context.dispose()));
    }
  });
});
