// Unit tests of option validation, defaults and the sampler chain policy (errors and the logger:
// errors.test.ts).
// Pure TypeScript: no addon needed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultThreads, resolveContextOptions } from '../lib/options/context.js';
import { GENERATE_DEFAULTS, MAX_SEED, resolveGenerateOptions } from '../lib/options/generate.js';
import { resolveLoadModelOptions } from '../lib/options/load.js';
import { buildSamplerChain } from '../lib/sampling.js';
import { describeValue, toWellFormed, tokenIds } from '../lib/validate.js';

type ErrorClass = typeof TypeError | typeof RangeError;

/**
 * Asserts that `fn` throws `kind` with a message in the shared formula naming `name`, and the
 * code every argument error carries.
 */
function assertInvalid(fn: () => unknown, kind: ErrorClass, name: string, expectedFragment?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
    assert.equal((error as Error).constructor, kind);
    assert.equal((error as { code?: unknown }).code, 'ERR_INVALID_ARG');
    assert.match((error as Error).message, new RegExp(`^Invalid (option|argument) "${escape(name)}"`));
    if (expectedFragment) assert.ok((error as Error).message.includes(expectedFragment), (error as Error).message);
    return true;
  });
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('option objects', () => {
  const resolvers = {
    loadModel: (o: unknown) => resolveLoadModelOptions(o),
    createContext: (o: unknown) => resolveContextOptions(o, 2048),
    generate: (o: unknown) => resolveGenerateOptions(o),
  };
  for (const [name, resolve] of Object.entries(resolvers)) {
    it(`${name}: undefined is fine, null / primitives / arrays are TypeErrors`, () => {
      assert.doesNotThrow(() => resolve(undefined));
      assert.doesNotThrow(() => resolve({}));
      for (const bad of [null, 1, 'x', true, [], () => {}]) {
        assert.throws(() => resolve(bad), TypeError, describeValue(bad));
      }
    });
    it(`${name}: unknown keys are TypeErrors naming the key`, () => {
      assertInvalid(() => resolve({ temprature: 1 }), TypeError, 'temprature');
    });
    it(`${name}: keys set to undefined count as absent`, () => {
      assert.doesNotThrow(() => resolve({ signal: undefined }));
    });
  }
});

describe('generate options', () => {
  it('has the documented defaults', () => {
    const resolved = resolveGenerateOptions(undefined);
    assert.deepEqual(
      {
        maxTokens: resolved.maxTokens,
        temperature: resolved.temperature,
        topK: resolved.topK,
        topP: resolved.topP,
        minP: resolved.minP,
        repeatPenalty: resolved.repeatPenalty,
        repeatLastN: resolved.repeatLastN,
        frequencyPenalty: resolved.frequencyPenalty,
        presencePenalty: resolved.presencePenalty,
        cachePrompt: resolved.cachePrompt,
        priority: resolved.priority,
        deviceSampling: resolved.deviceSampling,
      },
      { ...GENERATE_DEFAULTS },
    );
    assert.deepEqual(resolved.stop, []);
    assert.equal(resolved.signal, undefined);
    assert.ok(Number.isInteger(resolved.seed) && resolved.seed >= 0 && resolved.seed <= MAX_SEED);
  });

  it('draws a fresh random seed per call', () => {
    const seeds = new Set(Array.from({ length: 20 }, () => resolveGenerateOptions({}).seed));
    assert.ok(seeds.size > 1);
  });

  it('accepts the boundaries', () => {
    const ok = resolveGenerateOptions({
      maxTokens: -1,
      temperature: 0,
      topK: 0,
      topP: 1,
      minP: 0,
      repeatPenalty: 1e-9,
      repeatLastN: -1,
      seed: 0,
    });
    assert.equal(ok.topP, 1);
    assert.equal(resolveGenerateOptions({ seed: MAX_SEED }).seed, 4294967294);
    assert.equal(resolveGenerateOptions({ minP: 1, topP: 1e-9 }).minP, 1);
    assert.equal(resolveGenerateOptions({ maxTokens: 2 ** 31 - 1 }).maxTokens, 2 ** 31 - 1);
  });

  const cases: Array<[string, unknown, ErrorClass]> = [
    ['maxTokens', -2, RangeError],
    ['maxTokens', 1.5, RangeError],
    ['maxTokens', 2 ** 31, RangeError],
    ['maxTokens', Infinity, RangeError],
    ['maxTokens', NaN, TypeError],
    ['maxTokens', '10', TypeError],
    ['maxTokens', null, TypeError],
    ['temperature', -0.1, RangeError],
    ['temperature', Infinity, RangeError],
    ['temperature', NaN, TypeError],
    ['temperature', '0.7', TypeError],
    ['topK', -1, RangeError],
    ['topK', 1.5, RangeError],
    ['topK', 2 ** 31, RangeError],
    ['topP', 0, RangeError],
    ['topP', 1.5, RangeError],
    ['topP', -1, RangeError],
    ['topP', NaN, TypeError],
    ['minP', -0.01, RangeError],
    ['minP', 1.01, RangeError],
    ['repeatPenalty', 0, RangeError],
    ['repeatPenalty', -1, RangeError],
    ['repeatPenalty', Infinity, RangeError],
    ['repeatLastN', -2, RangeError],
    ['repeatLastN', 0.5, RangeError],
    ['seed', -1, RangeError],
    ['seed', 1.5, RangeError],
    ['seed', 2 ** 32 - 1, RangeError],
    ['seed', 2 ** 32, RangeError],
    ['seed', 10n, TypeError],
    ['stop', 'STOP', TypeError],
    ['stop', [1], TypeError],
    ['stop', [''], RangeError],
    ['stop', Array.from({ length: 17 }, (_, i) => `s${i}`), RangeError],
    ['signal', {}, TypeError],
    ['signal', true, TypeError],
  ];
  for (const [name, value, kind] of cases) {
    it(`${name}: ${describeValue(value)} is a ${kind.name}`, () => {
      assertInvalid(() => resolveGenerateOptions({ [name]: value }), kind, name === 'stop' && Array.isArray(value) && value.length < 17 ? 'stop[0]' : name);
    });
  }

  it('writes ranges in one formula', () => {
    assert.throws(() => resolveGenerateOptions({ topP: 1.5 }), {
      name: 'RangeError',
      message: 'Invalid option "topP": expected a number in (0, 1], got 1.5',
    });
    assert.throws(() => resolveGenerateOptions({ maxTokens: 'x' }), {
      name: 'TypeError',
      message: 'Invalid option "maxTokens": expected an integer in [-1, 2147483647], got "x"',
    });
    assert.throws(() => resolveGenerateOptions({ temperature: NaN }), {
      name: 'TypeError',
      message: 'Invalid option "temperature": expected a finite number >= 0, got NaN',
    });
  });

  it('deduplicates stop strings and makes them well-formed', () => {
    assert.deepEqual(resolveGenerateOptions({ stop: ['a', 'a', '\uD800'] }).stop, ['a', '\uFFFD']);
  });

  it('accepts an AbortSignal', () => {
    const signal = new AbortController().signal;
    assert.equal(resolveGenerateOptions({ signal }).signal, signal);
  });
});

describe('createContext options', () => {
  it('defaults to min(4096, trained), min(512, contextSize), batchSize, defaultThreads()', () => {
    assert.deepEqual(resolveContextOptions(undefined, 2048), {
      contextSize: 2048,
      batchSize: 512,
      ubatchSize: 512,
      threads: defaultThreads(),
      threadsBatch: defaultThreads(),
      poll: 0,
      sequences: 1,
      burstWindowMicros: 0,
      flashAttention: 'auto',
      kvCacheTypeK: 'f16',
      kvCacheTypeV: 'f16',
      embeddings: false,
      pooling: undefined,
    });
    assert.equal(resolveContextOptions({}, 32768).contextSize, 4096);
    const small = resolveContextOptions({ contextSize: 100 }, 2048);
    assert.equal(small.batchSize, 100);
    assert.equal(small.ubatchSize, 100);
    assert.equal(resolveContextOptions({ threads: 3 }, 2048).threadsBatch, 3);
    assert.equal(resolveContextOptions({ batchSize: 64 }, 2048).ubatchSize, 64);
  });

  it('refuses more sequences than batchSize (llama.cpp would abort)', () => {
    assertInvalid(() => resolveContextOptions({ batchSize: 32, sequences: 64 }, 2048), RangeError, 'sequences');
    assert.equal(resolveContextOptions({ batchSize: 32, sequences: 32 }, 2048).sequences, 32);
  });

  it('caps a model without a trained length at the default', () => {
    assert.equal(resolveContextOptions(undefined, 0).contextSize, 4096);
    assertInvalid(() => resolveContextOptions({ contextSize: 4097 }, 0), RangeError, 'contextSize');
  });

  it('defaultThreads() is a usable thread count', () => {
    const threads = defaultThreads();
    assert.ok(Number.isInteger(threads) && threads >= 1 && threads <= 256);
  });

  const cases: Array<[Record<string, unknown>, string, ErrorClass]> = [
    [{ contextSize: 0 }, 'contextSize', RangeError],
    [{ contextSize: -1 }, 'contextSize', RangeError],
    [{ contextSize: 2049 }, 'contextSize', RangeError],
    [{ contextSize: 2 ** 31 }, 'contextSize', RangeError],
    [{ contextSize: 1.5 }, 'contextSize', RangeError],
    [{ contextSize: NaN }, 'contextSize', TypeError],
    [{ contextSize: '512' }, 'contextSize', TypeError],
    [{ batchSize: 0 }, 'batchSize', RangeError],
    [{ contextSize: 256, batchSize: 257 }, 'batchSize', RangeError],
    [{ batchSize: 64, ubatchSize: 65 }, 'ubatchSize', RangeError],
    [{ threads: 0 }, 'threads', RangeError],
    [{ threads: 257 }, 'threads', RangeError],
    [{ threads: Infinity }, 'threads', RangeError],
    [{ threadsBatch: -1 }, 'threadsBatch', RangeError],
    [{ poll: 101 }, 'poll', RangeError],
    [{ poll: -1 }, 'poll', RangeError],
    [{ sequences: 0 }, 'sequences', RangeError],
    [{ sequences: 257 }, 'sequences', RangeError],
    [{ contextSize: 256, sequences: 300 }, 'sequences', RangeError],
    [{ sequences: 1.5 }, 'sequences', RangeError],
    [{ sequences: '2' }, 'sequences', TypeError],
    [{ burstWindowMs: -1 }, 'burstWindowMs', RangeError],
    [{ burstWindowMs: 1000.5 }, 'burstWindowMs', RangeError],
    [{ burstWindowMs: '5' }, 'burstWindowMs', TypeError],
    [{ parallel: 2 }, 'parallel', TypeError],
  ];
  for (const [options, name, kind] of cases) {
    it(`${JSON.stringify(options)} is a ${kind.name}`, () => {
      assertInvalid(() => resolveContextOptions(options, 2048), kind, name);
    });
  }

  it('names the model limit in the message', () => {
    assert.throws(() => resolveContextOptions({ contextSize: 9999 }, 2048), {
      message: 'Invalid option "contextSize": expected an integer in [1, 2048], got 9999',
    });
  });
});

describe('loadModel options', () => {
  it('has the documented defaults', () => {
    assert.deepEqual(resolveLoadModelOptions(undefined), {
      gpuLayers: 0,
      autoFit: { context: undefined, margin: 1024 * 1024 * 1024 },
      mainGpu: undefined,
      splitMode: undefined,
      tensorSplit: undefined,
      cpuMoe: false,
      nCpuMoe: 0,
      tensorOverrides: [],
      rpcServers: [],
      rpcTimeout: 60_000,
      useMmap: undefined,
      useMlock: false,
      vocabOnly: false,
      onProgress: undefined,
      signal: undefined,
    });
  });

  it("maps gpuLayers 'max' to the native -1 (all layers)", () => {
    assert.equal(resolveLoadModelOptions({ gpuLayers: 'max' }).gpuLayers, -1);
    assert.equal(resolveLoadModelOptions({ gpuLayers: 33 }).gpuLayers, 33);
  });

  const cases: Array<[Record<string, unknown>, string, ErrorClass]> = [
    [{ gpuLayers: -1 }, 'gpuLayers', RangeError],
    [{ gpuLayers: 1.5 }, 'gpuLayers', RangeError],
    [{ gpuLayers: 2 ** 31 }, 'gpuLayers', RangeError],
    [{ gpuLayers: 'all' }, 'gpuLayers', TypeError],
    [{ gpuLayers: NaN }, 'gpuLayers', TypeError],
    [{ useMmap: 'false' }, 'useMmap', TypeError],
    [{ useMlock: 1 }, 'useMlock', TypeError],
    [{ vocabOnly: null }, 'vocabOnly', TypeError],
    [{ onProgress: 'fn' }, 'onProgress', TypeError],
    [{ signal: {} }, 'signal', TypeError],
    [{ gpulayers: 1 }, 'gpulayers', TypeError],
  ];
  for (const [options, name, kind] of cases) {
    it(`${JSON.stringify(options)} is a ${kind.name}`, () => {
      assertInvalid(() => resolveLoadModelOptions(options), kind, name);
    });
  }
});

describe('token ids and text', () => {
  it('copies valid ids into an Int32Array', () => {
    const source = [0, 5, 31999];
    const ids = tokenIds('tokens', source, 32000);
    assert.deepEqual(Array.from(ids), source);
    assert.ok(ids instanceof Int32Array);
  });

  it('rejects ids outside [0, vocabularySize) and non-integers', () => {
    assertInvalid(() => tokenIds('tokens', [1, 32000], 32000), RangeError, 'tokens[1]', '[0, 32000)');
    assertInvalid(() => tokenIds('tokens', [-1], 32000), RangeError, 'tokens[0]');
    assertInvalid(() => tokenIds('tokens', [1.5], 32000), RangeError, 'tokens[0]');
    assertInvalid(() => tokenIds('tokens', [2 ** 31], 32000), RangeError, 'tokens[0]');
    assertInvalid(() => tokenIds('tokens', ['1'], 32000), TypeError, 'tokens[0]');
    assertInvalid(() => tokenIds('tokens', [NaN], 32000), TypeError, 'tokens[0]');
    assertInvalid(() => tokenIds('tokens', 'abc', 32000), TypeError, 'tokens');
    assertInvalid(() => tokenIds('tokens', null, 32000), TypeError, 'tokens');
  });

  it('replaces lone surrogates, keeps pairs', () => {
    assert.equal(toWellFormed('a\uD800b'), 'a\uFFFDb');
    assert.equal(toWellFormed('\uDC00'), '\uFFFD');
    assert.equal(toWellFormed('x\uD83D'), 'x\uFFFD');
    assert.equal(toWellFormed('😀'), '😀');
    assert.equal(toWellFormed('\uDC00\uD800'), '\uFFFD\uFFFD');
  });
});

describe('sampler chain policy', () => {
  const base = { temperature: 0.7, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1.1, repeatLastN: 64, seed: 42 };

  it("follows llama.cpp's common order with the defaults", () => {
    assert.deepEqual(buildSamplerChain(base, 4096), [
      { type: 'penalties', lastN: 64, repeat: 1.1, frequency: 0, presence: 0 },
      { type: 'topK', k: 40 },
      { type: 'topP', p: 0.95, minKeep: 1 },
      { type: 'minP', p: 0.05, minKeep: 1 },
      { type: 'temperature', t: 0.7 },
      { type: 'dist', seed: 42 },
    ]);
  });

  it('temperature 0 is greedy (after penalties)', () => {
    assert.deepEqual(buildSamplerChain({ ...base, temperature: 0 }, 4096), [
      { type: 'penalties', lastN: 64, repeat: 1.1, frequency: 0, presence: 0 },
      { type: 'greedy' },
    ]);
    assert.deepEqual(buildSamplerChain({ ...base, temperature: 0, repeatPenalty: 1 }, 4096), [{ type: 'greedy' }]);
  });

  it('leaves out stages that do nothing', () => {
    const chain = buildSamplerChain({ ...base, topK: 0, topP: 1, minP: 0, repeatPenalty: 1 }, 4096);
    assert.deepEqual(chain, [
      { type: 'temperature', t: 0.7 },
      { type: 'dist', seed: 42 },
    ]);
    assert.equal(buildSamplerChain({ ...base, repeatLastN: 0 }, 4096)[0]!.type, 'topK');
  });

  it('frequency and presence penalties share the penalties stage, alone or with the repeat penalty', () => {
    assert.deepEqual(buildSamplerChain({ ...base, repeatPenalty: 1, frequencyPenalty: 0.5, presencePenalty: -0.25 }, 4096)[0], {
      type: 'penalties',
      lastN: 64,
      repeat: 1,
      frequency: 0.5,
      presence: -0.25,
    });
    assert.equal(buildSamplerChain({ ...base, repeatPenalty: 1, presencePenalty: 0.5, repeatLastN: 0 }, 4096)[0]!.type, 'topK');
    const resolved = resolveGenerateOptions({ frequencyPenalty: 1.5, presencePenalty: -2 });
    assert.equal(resolved.frequencyPenalty, 1.5);
    assert.equal(resolved.presencePenalty, -2);
    assertInvalid(() => resolveGenerateOptions({ frequencyPenalty: Infinity }), RangeError, 'frequencyPenalty');
    assertInvalid(() => resolveGenerateOptions({ presencePenalty: '1' }), TypeError, 'presencePenalty');
  });

  it('repeatLastN -1 means the whole context', () => {
    assert.deepEqual(buildSamplerChain({ ...base, repeatLastN: -1 }, 512)[0], {
      type: 'penalties',
      lastN: 512,
      repeat: 1.1,
      frequency: 0,
      presence: 0,
    });
  });
});
