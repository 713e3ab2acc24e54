/**
 * Offload on a real GPU code path. Runs only when the loaded addon has a GPU device (a Vulkan,
 * CUDA or Metal build; in CI: the Vulkan variant on Mesa's software device lavapipe, loaded
 * with LLAMA_NAPI_ADDON=build-vulkan/Release/llama_napi.node and GGML_VK_VISIBLE_DEVICES=0);
 * skipped on CPU-only builds. Few, tiny cases: lavapipe compiles each pipeline on first use.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { estimateMemory, listDevices, loadModel, readGguf } from '../lib/index.js';
import { fitGpuLayers } from '../lib/estimate.js';
import { resolveLoadModelOptions } from '../lib/options/load.js';
import { fixtureModel } from './fixtures/models.js';
import { compareLogits } from './reference/compare.js';

const gpu = listDevices().find((d) => d.type === 'gpu' || d.type === 'igpu');
// CI sets this when it runs the GPU variant: a missing device is then a failure, not a skip.
if (process.env['LLAMA_NAPI_EXPECT_GPU'] === '1' && !gpu) {
  throw new Error(`LLAMA_NAPI_EXPECT_GPU=1 but the addon lists no GPU device: ${JSON.stringify(listDevices())}`);
}
const PROMPT = '[INST] Write a haiku about the sea [/INST]';
const CONTEXT = { contextSize: 256, threads: 2 } as const;

async function lastLogits(path: string, gpuLayers: number | 'max', extra: { cpuMoe?: boolean } = {}) {
  await using model = await loadModel(path, { gpuLayers, ...extra });
  await using ctx = await model.createContext(CONTEXT);
  const tokens = model.tokenize(PROMPT);
  const logits = await ctx.evaluate(tokens);
  const greedy = await ctx.generate(tokens, { temperature: 0, repeatPenalty: 1, maxTokens: 8 }).result;
  return { logits, tokens: greedy.tokens };
}

describe(`GPU offload (${gpu ? gpu.name : 'no GPU device: skipped'})`, { skip: !gpu && 'no GPU device in this build' }, () => {
  it('computes the same logits and greedy tokens with every layer on the GPU as on the CPU', async () => {
    for (const kind of ['llama', 'moe'] as const) {
      const path = await fixtureModel({ kind, type: 'F32' });
      const cpu = await lastLogits(path, 0);
      const dev = await lastLogits(path, 'max');
      // The reference-logit test's tolerance (1e-3 of the logit range): GPU kernels sum in
      // another order and may keep intermediates in F16, as the CPU's flash attention does.
      const { maxAbsDiff, range, tolerance } = compareLogits(dev.logits, cpu.logits);
      assert.ok(maxAbsDiff < tolerance, `${kind}: max |Δ| ${maxAbsDiff} over a range of ${range}`);
      assert.deepEqual(dev.tokens, cpu.tokens, kind);
    }
  });

  it('places the layers on the device, and keeps expert tensors on the host when asked', async () => {
    const path = await fixtureModel({ kind: 'moe', type: 'F32' });
    const gguf = await readGguf(path);
    const expertBytes = gguf.tensors.filter((t) => /ffn_(up|down|gate)_exps/.test(t.name)).reduce((s, t) => s + t.byteSize, 0);
    const onDevice = (e: Awaited<ReturnType<typeof estimateMemory>>): number => e.devices.reduce((s, d) => s + d.weights, 0);

    const none = await estimateMemory(path, { gpuLayers: 0, context: CONTEXT });
    const all = await estimateMemory(path, { gpuLayers: 'max', context: CONTEXT });
    const allExpertsOnHost = await estimateMemory(path, { gpuLayers: 'max', cpuMoe: true, context: CONTEXT });
    const firstLayerOnHost = await estimateMemory(path, { gpuLayers: 'max', nCpuMoe: 1, context: CONTEXT });
    assert.equal(onDevice(none), 0);
    assert.ok(onDevice(all) > 0.9 * gguf.tensors.reduce((s, t) => s + t.byteSize, 0) - 2 * 32000 * 64 * 4, 'all layers on the device');
    // Exactly the expert tensors move back to the host (within buffer alignment).
    assert.ok(Math.abs(onDevice(all) - onDevice(allExpertsOnHost) - expertBytes) < 0.01 * expertBytes, JSON.stringify({ all: onDevice(all), cpuMoe: onDevice(allExpertsOnHost), expertBytes }));
    const firstLayerExperts = expertBytes / 2; // the fixture has 2 layers of equal size
    assert.ok(Math.abs(onDevice(all) - onDevice(firstLayerOnHost) - firstLayerExperts) < 0.01 * expertBytes);

    // And the model still computes the same with its experts on the host.
    const cpu = await lastLogits(path, 0);
    const split = await lastLogits(path, 'max', { cpuMoe: true });
    const { maxAbsDiff, tolerance } = compareLogits(split.logits, cpu.logits);
    assert.ok(maxAbsDiff < tolerance, `cpuMoe: max |Δ| ${maxAbsDiff}`);
  });

  it("'auto' picks the most layers that fit a device memory limit", async () => {
    const path = await fixtureModel({ kind: 'moe', type: 'F32' });
    const gguf = await readGguf(path);
    const layers = Number((gguf.metadata['llama.block_count'] as { value: number }).value);
    const at = async (n: number) => (await estimateMemory(path, { gpuLayers: n, context: CONTEXT })).devices[0]!;
    const half = await at(Math.floor(layers / 2));
    // A margin that leaves room for exactly the half-offloaded model on the device.
    const margin = half.free - half.total;
    const opts = resolveLoadModelOptions({ gpuLayers: 'auto', autoFit: { context: CONTEXT, margin } });
    const chosen = await fitGpuLayers(path, opts, { layerCount: layers, trainedContextLength: 4096 });
    assert.equal(chosen, Math.floor(layers / 2));
    const next = await at(chosen + 1);
    assert.ok(next.total + margin > next.free, 'one more layer would not have fitted');
  });
});
