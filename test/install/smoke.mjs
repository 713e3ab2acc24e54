// Run from a folder where llama-napi was installed from its tarball (.ci/install-check.sh):
// the ES module entry point loads, reports where its addon came from, and generates.
//   node smoke.mjs <model.gguf> <expected addonSource> [expected GPU backend]
import assert from 'node:assert/strict';
import { getBuildInfo, loadModel } from 'llama-napi';

const [modelPath, source, gpuBackend] = process.argv.slice(2);
const info = getBuildInfo();
assert.equal(info.addonSource, source, info.addonPath);
assert.ok(info.addonPath.includes('node_modules'), info.addonPath);
if (gpuBackend) {
  const gpu = info.backends.find((b) => b.name === gpuBackend);
  assert.ok(gpu && gpu.devices > 0, `${gpuBackend} loaded with a device: ${JSON.stringify(info.backends)} ${JSON.stringify(info.skippedBackends)}`);
}
// llama.cpp's RPC backend is in every build and loads (it registers no device until a model uses it).
assert.ok(info.backends.some((b) => b.name === 'RPC'), `RPC backend loaded: ${JSON.stringify(info.skippedBackends)}`);
const model = await loadModel(modelPath, { gpuLayers: gpuBackend ? 'max' : 0 });
const context = await model.createContext({ contextSize: 256, threads: 2 });
const result = await context.generate('[INST] Hello [/INST]', { maxTokens: 8, temperature: 0 }).result;
assert.ok(result.generatedTokens > 0, JSON.stringify(result));
await context.dispose();
await model.dispose();
console.log(`esm: ${info.addonSource} addon, CPU ${info.cpuVariant}, backends ${info.backends.map((b) => b.name).join('+')}, ${result.generatedTokens} tokens`);
