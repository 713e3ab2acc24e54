// End-to-end generation on tiny generated models (see test/fixtures/models.ts).
// Kept fast for 2 cores: one model per file, small contexts, few tokens.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../lib/context.js';
import { LlamaError } from '../lib/errors.js';
import { loadModel, type Model } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';

const CONTEXT = { contextSize: 256, batchSize: 64, threads: 2 } as const;
const GREEDY = { temperature: 0, repeatPenalty: 1 } as const;
const PROMPT = 'The quick brown fox';

let modelPath: string;
let model: Model;
let context: Context;

before(async () => {
  modelPath = await fixtureModel({ kind: 'llama', type: 'F32' });
  model = await loadModel(modelPath);
  context = await model.createContext(CONTEXT);
});

after(async () => {
  await model?.dispose();
});

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

describe('model', () => {
  it('reports its info', async () => {
    const { info } = model;
    assert.equal(info.architecture, 'llama');
    assert.equal(info.vocabularySize, 32000);
    assert.equal(info.fileSize, (await stat(modelPath)).size);
    assert.equal(info.expertCount, 0);
    assert.equal(typeof info.quantization, 'string');
    assert.ok(info.quantization.length > 0);
    assert.ok(info.trainedContextLength > 0);
    assert.ok(info.layerCount > 0);
    assert.ok(Object.isFrozen(info));
  });

  it('tokenizes with BOS by default and round-trips text', () => {
    const tokens = model.tokenize('Hello world');
    assert.equal(tokens[0], model.info.bosToken);
    assert.equal(model.detokenize(tokens).trimStart(), 'Hello world');
    assert.notEqual(model.tokenize('Hello world', { addSpecial: false })[0], model.info.bosToken);
  });

  it('keeps special-token text typed by a user as text unless asked', () => {
    const eos = model.info.eosToken;
    assert.ok(!model.tokenize('a </s> b', { addSpecial: false }).includes(eos));
    assert.ok(model.tokenize('a </s> b', { addSpecial: false, parseSpecial: true }).includes(eos));
  });

  it('tokenizes lone surrogates and the empty string without failing', () => {
    assert.deepEqual(model.tokenize('', { addSpecial: false }), []);
    assert.ok(model.tokenize('x\uD800y').length > 0);
  });

  it('rejects invalid token ids and options', () => {
    assert.throws(() => model.detokenize([32000]), RangeError);
    assert.throws(() => model.detokenize([-1]), RangeError);
    assert.throws(() => model.detokenize([1.5]), RangeError);
    assert.throws(() => model.detokenize('abc' as never), TypeError);
    assert.throws(() => model.tokenize(42 as never), TypeError);
    assert.throws(() => model.tokenize('x', { parseSpecial: 'yes' as never }), TypeError);
  });
});

describe('generate', () => {
  it('is deterministic when greedy', async () => {
    const a = await context.generate(PROMPT, { ...GREEDY, maxTokens: 8 }).result;
    const b = await context.generate(PROMPT, { ...GREEDY, maxTokens: 8 }).result;
    assert.deepEqual(a.tokens, b.tokens);
    assert.equal(a.text, b.text);
    assert.ok(a.tokens.length > 0);
  });

  it('picks the argmax of the logits at every greedy step', async () => {
    const prompt = model.tokenize(PROMPT);
    const { tokens } = await context.generate(prompt, { ...GREEDY, maxTokens: 4 }).result;
    for (let i = 0; i < tokens.length; i++) {
      const logits = await context.evaluate([...prompt, ...tokens.slice(0, i)]);
      assert.equal(logits.length, model.info.vocabularySize);
      assert.equal(argmax(logits), tokens[i], `step ${i}`);
    }
  });

  it("greedy (the addon's argmax) equals llama.cpp's sampler chain cut to its top token", async () => {
    // temperature 0 without penalties takes the native argmax path; topK 1 goes through
    // llama.cpp's own chain (top-k, temperature, seeded draw) and must pick the same tokens.
    const greedy = await context.generate(PROMPT, { ...GREEDY, maxTokens: 12 }).result;
    const chain = await context.generate(PROMPT, { temperature: 0.8, topK: 1, repeatPenalty: 1, seed: 7, maxTokens: 12 }).result;
    assert.deepEqual(chain.tokens, greedy.tokens);
  });

  it('a presence penalty keeps greedy decoding from repeating a token of its window', async () => {
    const plain = await context.generate(PROMPT, { temperature: 0, maxTokens: 32 }).result;
    const penalised = await context.generate(PROMPT, { temperature: 0, presencePenalty: 1e6, repeatLastN: 64, maxTokens: 32 }).result;
    // The random fixture repeats itself when left alone; with the penalty no token comes twice.
    assert.ok(new Set(plain.tokens).size < plain.tokens.length, `plain greedy repeats: ${plain.tokens.join(' ')}`);
    assert.equal(new Set(penalised.tokens).size, penalised.tokens.length, penalised.tokens.join(' '));
  });

  it('reproduces seeded sampling, and different seeds differ', async () => {
    const options = { temperature: 1, topK: 0, topP: 1, minP: 0, maxTokens: 8 };
    const a = await context.generate(PROMPT, { ...options, seed: 123 }).result;
    const b = await context.generate(PROMPT, { ...options, seed: 123 }).result;
    const c = await context.generate(PROMPT, { ...options, seed: 124 }).result;
    assert.deepEqual(a.tokens, b.tokens);
    assert.notDeepEqual(a.tokens, c.tokens);
  });

  it("stops at maxTokens with finishReason 'length' and reports statistics", async () => {
    const result = await context.generate(PROMPT, { ...GREEDY, maxTokens: 3 }).result;
    assert.equal(result.finishReason, 'length');
    assert.equal(result.generatedTokens, 3);
    assert.equal(result.tokens.length, 3);
    assert.equal(result.promptTokens, model.tokenize(PROMPT).length);
    assert.ok(result.promptTokensPerSecond > 0);
    assert.ok(result.generationTokensPerSecond > 0);
    assert.ok(result.timeToFirstTokenMs !== null && result.timeToFirstTokenMs > 0);
  });

  it('streams chunks that add up to the result', async () => {
    const generation = context.generate(PROMPT, { ...GREEDY, maxTokens: 6 });
    let text = '';
    const tokens: number[] = [];
    for await (const chunk of generation) {
      text += chunk.text;
      tokens.push(...chunk.tokens);
    }
    const result = await generation.result;
    assert.equal(text, result.text);
    assert.deepEqual(tokens, result.tokens);
    assert.equal(model.detokenize(result.tokens), result.text);
  });

  it('ends at a stop string without emitting it', async () => {
    const full = await context.generate(PROMPT, { ...GREEDY, maxTokens: 12 }).result;
    const chars = [...full.text];
    assert.ok(chars.length >= 4, `need some text to cut, got ${JSON.stringify(full.text)}`);
    const middle = Math.floor(chars.length / 2);
    const stop = chars.slice(middle, middle + 2).join('');
    const expected = full.text.slice(0, full.text.indexOf(stop));
    const generation = context.generate(PROMPT, { ...GREEDY, maxTokens: 12, stop: [stop] });
    let streamed = '';
    for await (const chunk of generation) streamed += chunk.text;
    const result = await generation.result;
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.text, expected);
    assert.equal(streamed, expected);
  });

  it("aborts with a signal that is already aborted: 'abort', no text", async () => {
    const result = await context.generate(PROMPT, { maxTokens: 8, signal: AbortSignal.abort() }).result;
    assert.equal(result.finishReason, 'abort');
    assert.equal(result.text, '');
    assert.deepEqual(result.tokens, []);
  });

  // A tiny model generates fast: a long budget makes sure the abort, not the budget, ends it.
  const LONG = { contextSize: 2048, batchSize: 64, threads: 2 } as const;

  it('aborts during generation with a signal and keeps the partial text', async () => {
    await using long = await model.createContext(LONG);
    const controller = new AbortController();
    const generation = long.generate(PROMPT, { ...GREEDY, maxTokens: 2000, signal: controller.signal });
    let chunks = 0;
    let text = '';
    for await (const chunk of generation) {
      text += chunk.text;
      if (++chunks === 2) controller.abort();
    }
    const result = await generation.result;
    assert.equal(result.finishReason, 'abort');
    assert.ok(result.tokens.length >= 2 && result.tokens.length < 2000, `${result.tokens.length} tokens`);
    assert.equal(result.text, text);
  });

  it('breaking out of for await aborts; the context then matches a fresh one', async () => {
    await using long = await model.createContext(LONG);
    const generation = long.generate(PROMPT, { ...GREEDY, maxTokens: 2000 });
    for await (const _chunk of generation) break;
    const aborted = await generation.result;
    assert.equal(aborted.finishReason, 'abort');
    assert.ok(aborted.generatedTokens < 2000);
    const after = await long.generate('A different prompt', { ...GREEDY, maxTokens: 6 }).result;
    await using fresh = await model.createContext(LONG);
    const expected = await fresh.generate('A different prompt', { ...GREEDY, maxTokens: 6 }).result;
    assert.deepEqual(after.tokens, expected.tokens);
  });

  it('queues concurrent generations; results equal sequential runs', async () => {
    const prompts = ['One', 'Two', 'Three'];
    const parallel = await Promise.all(prompts.map((p) => context.generate(p, { ...GREEDY, maxTokens: 4 }).result));
    for (const [i, prompt] of prompts.entries()) {
      const sequential = await context.generate(prompt, { ...GREEDY, maxTokens: 4 }).result;
      assert.deepEqual(parallel[i]!.tokens, sequential.tokens);
    }
  });

  it('generates on two contexts of one model at once', async () => {
    await using other = await model.createContext(CONTEXT);
    const [a, b] = await Promise.all([
      context.generate(PROMPT, { ...GREEDY, maxTokens: 4 }).result,
      other.generate(PROMPT, { ...GREEDY, maxTokens: 4 }).result,
    ]);
    assert.deepEqual(a.tokens, b.tokens);
  });

  it('rejects a prompt that fills the context with ERR_CONTEXT_FULL before running', async () => {
    const prompt = new Array<number>(context.size).fill(model.tokenize('a', { addSpecial: false })[0]!);
    const generation = context.generate(prompt, { maxTokens: 1 });
    await assert.rejects(generation.result, (error: unknown) => error instanceof LlamaError && error.code === 'ERR_CONTEXT_FULL');
    // The context is still usable.
    assert.equal((await context.generate(PROMPT, { ...GREEDY, maxTokens: 1 }).result).tokens.length, 1);
  });

  it("reaches the end of a small context with finishReason 'length'", async () => {
    await using small = await model.createContext({ ...CONTEXT, contextSize: 32, batchSize: 32 });
    const prompt = model.tokenize(PROMPT);
    const result = await small.generate(prompt, { ...GREEDY, maxTokens: -1 }).result;
    assert.equal(result.finishReason === 'eog' ? 'length' : result.finishReason, 'length');
    assert.ok(prompt.length + result.generatedTokens <= small.size);
  });

  it('throws option errors synchronously', () => {
    assert.throws(() => context.generate(PROMPT, { topP: 1.5 }), RangeError);
    assert.throws(() => context.generate(PROMPT, { temperature: NaN }), TypeError);
    assert.throws(() => context.generate(PROMPT, { maxTokens: 2 ** 31 }), RangeError);
    assert.throws(() => context.generate(PROMPT, { nope: 1 } as never), TypeError);
    assert.throws(() => context.generate(PROMPT, null as never), TypeError);
    assert.throws(() => context.generate([], {}), RangeError);
    assert.throws(() => context.generate([99999], {}), RangeError);
    assert.throws(() => context.generate(42 as never), TypeError);
  });

  it('validates context and load options', async () => {
    await assert.rejects(model.createContext({ contextSize: model.info.trainedContextLength + 1 }), RangeError);
    await assert.rejects(model.createContext({ threads: 0 }), RangeError);
    await assert.rejects(model.createContext({ batchSize: '64' } as never), TypeError);
    await assert.rejects(loadModel(modelPath, { gpuLayers: -1 }), RangeError);
    await assert.rejects(loadModel(modelPath, { useMmap: 'yes' } as never), TypeError);
    await assert.rejects(loadModel('' as string), RangeError);
  });

  it('evaluate rejects empty and invalid token lists', async () => {
    await assert.rejects(context.evaluate([]), RangeError);
    await assert.rejects(context.evaluate([32000]), RangeError);
  });
});

describe('loading', () => {
  it('reports progress in [0, 1] and survives a throwing progress callback', async () => {
    const seen: number[] = [];
    const a = await loadModel(modelPath, { onProgress: (p) => seen.push(p) });
    await a.dispose();
    assert.ok(seen.length > 0);
    assert.ok(seen.every((p) => p >= 0 && p <= 1));
    const b = await loadModel(modelPath, {
      onProgress: () => {
        throw new Error('user bug');
      },
    });
    await b.dispose();
  });

  it('rejects with ERR_ABORTED when the signal is already aborted', async () => {
    await assert.rejects(loadModel(modelPath, { signal: AbortSignal.abort() }), { name: 'LlamaError', code: 'ERR_ABORTED' });
  });

  it('loads a vocabulary-only model that tokenizes but cannot create contexts', async () => {
    await using vocab = await loadModel(modelPath, { vocabOnly: true });
    assert.deepEqual(vocab.tokenize('Hello'), model.tokenize('Hello'));
    await assert.rejects(vocab.createContext(), { code: 'ERR_CONTEXT_CREATE' });
  });

  for (const type of ['F16', 'Q8_0'] as const) {
    it(`loads and runs a ${type} model`, async () => {
      await using quantized = await loadModel(await fixtureModel({ kind: 'llama', type }));
      assert.ok(quantized.info.quantization.length > 0);
      await using ctx = await quantized.createContext(CONTEXT);
      const result = await ctx.generate(PROMPT, { ...GREEDY, maxTokens: 2 }).result;
      assert.equal(result.tokens.length, 2);
    });
  }

  it('runs a Mixtral-shaped MoE model', async () => {
    await using moe = await loadModel(await fixtureModel({ kind: 'moe', type: 'F32' }));
    assert.equal(moe.info.expertCount, 8);
    assert.equal(moe.info.expertUsedCount, 2);
    await using ctx = await moe.createContext(CONTEXT);
    const a = await ctx.generate(PROMPT, { ...GREEDY, maxTokens: 3 }).result;
    const b = await ctx.generate(PROMPT, { ...GREEDY, maxTokens: 3 }).result;
    assert.equal(a.tokens.length, 3);
    assert.deepEqual(a.tokens, b.tokens);
  });
});
