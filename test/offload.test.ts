// Offload and memory options: flash attention, KV cache types, devices, tensor placement.
// On this CPU-only build placement options must be accepted and change nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadAddon } from '../lib/addon.js';
import { listDevices } from '../lib/devices.js';
import { LlamaError } from '../lib/errors.js';
import { estimateMemory } from '../lib/estimate.js';
import { readGguf } from '../lib/gguf/index.js';
import { loadModel, type Model } from '../lib/model.js';
import { resolveContextOptions, type ContextOptions } from '../lib/options/context.js';
import { EXPERT_TENSORS_PATTERN, placementOverrides, resolveLoadModelOptions } from '../lib/options/load.js';
import { fixtureModel } from './fixtures/models.js';

const CONTEXT = { contextSize: 256, batchSize: 64, threads: 2 } as const;
const GREEDY = { temperature: 0, repeatPenalty: 1, maxTokens: 12 } as const;
const PROMPT = 'The quick brown fox';

/** Largest absolute difference between two logit vectors. */
function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

async function run(model: Model, options: ContextOptions): Promise<{ logits: Float32Array; tokens: number[] }> {
  await using ctx = await model.createContext({ ...CONTEXT, ...options });
  const logits = await ctx.evaluate(model.tokenize(PROMPT));
  const generation = ctx.generate(PROMPT, GREEDY);
  const { tokens } = await generation.result;
  return { logits, tokens: [...tokens] };
}

describe('context options: flash attention and KV cache types', () => {
  // Head size 32 (64 / 2 heads): quantized KV blocks hold 32 values.
  let model: Model;
  before(async () => {
    model = await loadModel(await fixtureModel({ kind: 'llama', type: 'F32', headCount: 2, headCountKv: 1 }));
  });
  after(async () => {
    await model?.dispose();
  });

  it('flash attention on and off give the same greedy tokens and logits', async () => {
    const off = await run(model, { flashAttention: 'off' });
    const on = await run(model, { flashAttention: 'on' });
    const auto = await run(model, {});
    assert.deepEqual(on.tokens, off.tokens);
    assert.deepEqual(auto.tokens, off.tokens);
    const diff = maxDiff(on.logits, off.logits);
    console.log(`# flash on vs off: max |Δlogit| = ${diff.toExponential(2)} (max |logit| ${maxAbs(off.logits).toFixed(2)})`);
    assert.ok(diff < 1e-2, `flash attention changed logits by ${diff}`);
  });

  it('a q8_0 KV cache stays close to f16; q4_0 runs', async () => {
    const f16 = await run(model, { flashAttention: 'on' });
    const q8 = await run(model, { flashAttention: 'on', kvCacheTypeK: 'q8_0', kvCacheTypeV: 'q8_0' });
    const q4 = await run(model, { kvCacheTypeK: 'q4_0', kvCacheTypeV: 'q4_0' }); // 'auto' turns flash attention on
    const q8k = await run(model, { flashAttention: 'off', kvCacheTypeK: 'q8_0' }); // quantized K alone needs no FA
    const d8 = maxDiff(q8.logits, f16.logits);
    const d4 = maxDiff(q4.logits, f16.logits);
    console.log(`# q8_0 KV vs f16: max |Δlogit| = ${d8.toExponential(2)}; q4_0: ${d4.toExponential(2)}; q8_0 K only (FA off): ${maxDiff(q8k.logits, f16.logits).toExponential(2)}`);
    assert.ok(d8 < 0.1, `q8_0 KV changed logits by ${d8}`);
    assert.ok(d4 < 1, `q4_0 KV changed logits by ${d4}`);
    assert.equal(q4.logits.length, f16.logits.length);
  });

  it('rejects bad values synchronously with the shared formula', () => {
    assert.throws(() => resolveContextOptions({ flashAttention: true }, 2048), TypeError);
    assert.throws(() => resolveContextOptions({ flashAttention: 'yes' }, 2048), {
      name: 'RangeError',
      message: 'Invalid option "flashAttention": expected one of "auto", "on", "off", got "yes"',
    });
    assert.throws(() => resolveContextOptions({ kvCacheTypeK: 8 }, 2048), TypeError);
    assert.throws(() => resolveContextOptions({ kvCacheTypeK: 'q5_1' }, 2048), RangeError);
    assert.throws(() => resolveContextOptions({ kvCacheTypeV: 'F16' }, 2048), RangeError);
    assert.throws(() => resolveContextOptions({ kvCacheTypeV: 'q8_0', flashAttention: 'off' }, 2048), {
      name: 'RangeError',
      message: /^Invalid option "kvCacheTypeV": expected "f16" when flashAttention is "off".*got "q8_0"$/,
    });
    assert.equal(resolveContextOptions({ kvCacheTypeK: 'q8_0', flashAttention: 'off' }, 2048).kvCacheTypeK, 'q8_0');
  });

  it('createContext rejects bad values before native code', async () => {
    await assert.rejects(model.createContext({ kvCacheTypeV: 'q4_0', flashAttention: 'off' }), RangeError);
  });
});

describe('listDevices', () => {
  it('lists a CPU device with memory', () => {
    const devices = listDevices();
    assert.ok(devices.length >= 1);
    const cpu = devices.find((d) => d.type === 'cpu');
    assert.ok(cpu, JSON.stringify(devices));
    assert.equal(typeof cpu.name, 'string');
    assert.ok(cpu.name.length > 0);
    assert.equal(typeof cpu.backend, 'string');
    assert.ok(cpu.memoryTotal > 0);
    assert.ok(cpu.memoryFree >= 0 && cpu.memoryFree <= cpu.memoryTotal);
    assert.ok(Object.isFrozen(cpu));
  });
});

describe('model placement options', () => {
  let path: string;
  let reference: number[];
  before(async () => {
    path = await fixtureModel({ kind: 'moe', type: 'F32' });
    await using model = await loadModel(path);
    reference = (await run(model, {})).tokens;
  });

  it('are accepted on a CPU-only build and generate identically', async () => {
    const cpu = listDevices().find((d) => d.type === 'cpu')!;
    for (const options of [
      { cpuMoe: true },
      { nCpuMoe: 1 },
      { nCpuMoe: 1000 },
      { mainGpu: 0, splitMode: 'none' as const },
      { splitMode: 'row' as const, tensorSplit: [1] },
      { gpuLayers: 'max' as const, tensorOverrides: [{ pattern: 'ffn_down', device: 'cpu' }, { pattern: 'attn_q', device: cpu.name }] },
    ]) {
      await using model = await loadModel(path, options);
      assert.deepEqual((await run(model, {})).tokens, reference, JSON.stringify(options));
    }
  });

  it('writes llama.cpp\'s --cpu-moe / --n-cpu-moe overrides after the caller\'s', () => {
    const o = resolveLoadModelOptions({ nCpuMoe: 2, tensorOverrides: [{ pattern: 'x', device: 'CPU' }] });
    assert.deepEqual(placementOverrides(o, 4), [
      { pattern: 'x', device: 'CPU' },
      { pattern: 'blk\\.0\\.ffn_(up|down|gate|gate_up)_(ch|)exps', device: 'cpu' },
      { pattern: 'blk\\.1\\.ffn_(up|down|gate|gate_up)_(ch|)exps', device: 'cpu' },
    ]);
    assert.deepEqual(placementOverrides(resolveLoadModelOptions({ nCpuMoe: 9 }), 4), [{ pattern: EXPERT_TENSORS_PATTERN, device: 'cpu' }]);
    assert.deepEqual(placementOverrides(resolveLoadModelOptions({ cpuMoe: true, nCpuMoe: 1 }), 4), [
      { pattern: EXPERT_TENSORS_PATTERN, device: 'cpu' },
    ]);
    assert.ok(new RegExp(EXPERT_TENSORS_PATTERN).test('blk.3.ffn_gate_exps.weight'));
    assert.ok(!new RegExp('blk\\.1' + EXPERT_TENSORS_PATTERN).test('blk.10.ffn_up_exps.weight'));
  });

  it('rejects bad values with TypeError / RangeError', async () => {
    const bad: Array<[unknown, typeof TypeError | typeof RangeError]> = [
      [{ mainGpu: -1 }, RangeError],
      [{ mainGpu: '0' }, TypeError],
      [{ splitMode: 'rows' }, RangeError],
      [{ splitMode: 1 }, TypeError],
      [{ tensorSplit: 1 }, TypeError],
      [{ tensorSplit: [1, -1] }, RangeError],
      [{ tensorSplit: [Infinity] }, RangeError],
      [{ tensorSplit: new Array(17).fill(1) }, RangeError],
      [{ cpuMoe: 1 }, TypeError],
      [{ nCpuMoe: -1 }, RangeError],
      [{ nCpuMoe: 1.5 }, RangeError],
      [{ tensorOverrides: {} }, TypeError],
      [{ tensorOverrides: [{ pattern: '(', device: 'cpu' }] }, RangeError],
      [{ tensorOverrides: [{ pattern: '', device: 'cpu' }] }, RangeError],
      [{ tensorOverrides: [{ pattern: '(?<=a)b', device: 'cpu' }] }, RangeError],
      [{ tensorOverrides: [{ pattern: 'a', device: 'NoSuchGpu0' }] }, RangeError],
      [{ tensorOverrides: [{ pattern: 'a' }] }, TypeError],
      [{ tensorOverrides: [{ pattern: 'a', device: 'cpu', buft: 1 }] }, TypeError],
    ];
    for (const [options, kind] of bad) {
      await assert.rejects(loadModel(path, options as never), kind, JSON.stringify(options));
    }
  });

  it('the addon compiles patterns itself: one std::regex rejects is an argument error, not a crash', async () => {
    const nativeModel = new (loadAddon().Model)();
    const params = { gpuLayers: 0, useMmap: undefined, useMlock: false, vocabOnly: false };
    assert.throws(() => nativeModel.load(path, { ...params, tensorOverrides: [{ pattern: '(?<=a)b', device: 'cpu' }] }, null), {
      code: 'ERR_INVALID_ARG',
    });
    assert.throws(() => nativeModel.load(path, { ...params, tensorOverrides: [{ pattern: 'a', device: 'nope' }] }, null), {
      code: 'ERR_INVALID_ARG',
    });
    await nativeModel.load(path, params, null);
    const nativeContext = new (loadAddon().Context)(nativeModel);
    const contextParams = { contextSize: 64, batchSize: 16, ubatchSize: 16, threads: 1, threadsBatch: 1, poll: 0, sequences: 1 };
    assert.throws(() => nativeContext.init({ ...contextParams, kvCacheTypeV: 'q8_0', flashAttention: 'off' }), {
      code: 'ERR_INVALID_ARG',
    });
    assert.throws(() => nativeContext.init({ ...contextParams, kvCacheTypeK: 'q5_1' as never }), { code: 'ERR_INVALID_ARG' });
    await nativeContext.dispose();
    nativeModel.dispose();
  });

  it('a context a quantized cache cannot serve (head size 16) fails with ERR_CONTEXT_CREATE', async () => {
    await using model = await loadModel(path);
    await assert.rejects(model.createContext({ ...CONTEXT, kvCacheTypeK: 'q8_0' }), (error: unknown) => {
      assert.ok(error instanceof LlamaError);
      assert.equal(error.code, 'ERR_CONTEXT_CREATE');
      return true;
    });
  });
});

describe('estimateMemory', () => {
  let path: string;
  before(async () => {
    path = await fixtureModel({ kind: 'moe', type: 'F32' });
  });

  it('reports weights, KV cache and compute buffers without loading', async () => {
    const gguf = await readGguf(path);
    const started = performance.now();
    const estimate = await estimateMemory(path, { context: { contextSize: 4096 } });
    const ms = performance.now() - started;
    console.log(`# estimateMemory: ${JSON.stringify(estimate.host)} in ${ms.toFixed(0)} ms`);
    assert.deepEqual(estimate.devices, []); // CPU-only build: everything is host memory
    assert.equal(estimate.host.weights, gguf.fileSize - gguf.dataOffset); // F32 tensors, no padding
    // K and V, f16: 2 layers × 4096 tokens × (16 dims × 2 KV heads) × 2 bytes each.
    assert.equal(estimate.host.kvCache, 2 * 2 * 4096 * 32 * 2);
    assert.ok(estimate.host.compute > 0);
    assert.equal(estimate.host.total, estimate.host.weights + estimate.host.kvCache + estimate.host.compute);
    assert.ok(estimate.host.memoryTotal > 0);
    assert.equal(estimate.fits, true);
    const smaller = await estimateMemory(path, { context: { contextSize: 1024 }, cpuMoe: true, gpuLayers: 'max' });
    assert.equal(smaller.host.kvCache, estimate.host.kvCache / 4);
    assert.equal(smaller.host.weights, estimate.host.weights);
  });

  it('a context that cannot fit is ERR_INSUFFICIENT_MEMORY before anything is allocated', async () => {
    // 32 layers × 128 KV dims × (K + V) × 2 bytes × 2^24 tokens = 256 GiB of f16 KV cache.
    const spec = { kind: 'llama', type: 'F32', layerCount: 32, embeddingLength: 128, headCount: 8, headCountKv: 8 } as const;
    const huge = await fixtureModel({ ...spec, contextLength: 1 << 24 });
    const before = process.memoryUsage().rss;
    const estimate = await estimateMemory(huge, { context: { contextSize: 1 << 24 } });
    assert.equal(estimate.host.kvCache, 32 * 128 * 2 * 2 * (1 << 24));
    assert.ok(process.memoryUsage().rss - before < 1e9, 'the estimate allocated the buffers');
    assert.equal(estimate.fits, estimate.host.total - estimate.host.weights <= estimate.host.free);
    if (!estimate.fits) {
      await assert.rejects(estimateMemory(huge, { context: { contextSize: 1 << 24 }, failIfInsufficient: true }), (error: unknown) => {
        assert.ok(error instanceof LlamaError);
        assert.equal(error.code, 'ERR_INSUFFICIENT_MEMORY');
        assert.match(error.message, /CPU \(host\) needs \d+ MiB, has \d+ MiB free/);
        return true;
      });
    }
  });

  it("gpuLayers: 'auto' loads what fits (everything on the host here) and generates identically", async () => {
    await using model = await loadModel(path);
    const reference = (await run(model, {})).tokens;
    await using auto = await loadModel(path, { gpuLayers: 'auto', autoFit: { context: CONTEXT, margin: 0 } });
    assert.deepEqual((await run(auto, {})).tokens, reference);
  });

  it("gpuLayers: 'auto' fails with ERR_INSUFFICIENT_MEMORY before allocating when nothing fits", async () => {
    const spec = { kind: 'llama', type: 'F32', layerCount: 32, embeddingLength: 128, headCount: 8, headCountKv: 8 } as const;
    const huge = await fixtureModel({ ...spec, contextLength: 1 << 24 });
    const rss = process.memoryUsage().rss;
    await assert.rejects(loadModel(huge, { gpuLayers: 'auto', autoFit: { context: { contextSize: 1 << 24 } } }), (error: unknown) => {
      assert.ok(error instanceof LlamaError);
      assert.equal(error.code, 'ERR_INSUFFICIENT_MEMORY');
      assert.match(error.message, /\(host\) needs \d+ MiB, has \d+ MiB free/);
      return true;
    });
    assert.ok(process.memoryUsage().rss - rss < 1e9);
  });

  it('validates its options and the file like loadModel', async () => {
    await assert.rejects(estimateMemory(path, { gpuLayers: 'auto' }), RangeError);
    await assert.rejects(loadModel(path, { gpuLayers: 'auto', autoFit: { margin: -1 } }), RangeError);
    await assert.rejects(loadModel(path, { gpuLayers: 'auto', autoFit: { context: { contextSize: 0 } } }), RangeError);
    await assert.rejects(loadModel(path, { autoFit: { contextSize: 1 } as never }), TypeError);
    await assert.rejects(estimateMemory(path, { context: { flashAttention: 'maybe' as never } }), RangeError);
    await assert.rejects(estimateMemory(path, { onProgress: () => {} } as never), TypeError);
    await assert.rejects(estimateMemory(path, { failIfInsufficient: 1 as never }), TypeError);
    await assert.rejects(estimateMemory('/nonexistent.gguf'), { code: 'ERR_MODEL_LOAD' });
  });
});
