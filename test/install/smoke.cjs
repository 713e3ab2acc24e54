// The CommonJS entry point of an installed llama-napi (see smoke.mjs).
//   node smoke.cjs <model.gguf> <expected addonSource>
const assert = require('node:assert/strict');
const { getBuildInfo, loadModel } = require('llama-napi');

async function main() {
  const [modelPath, source] = process.argv.slice(2);
  const info = getBuildInfo();
  assert.equal(info.addonSource, source, info.addonPath);
  const model = await loadModel(modelPath);
  const context = await model.createContext({ contextSize: 256, threads: 2 });
  const result = await context.generate('[INST] Hello [/INST]', { maxTokens: 8, temperature: 0 }).result;
  assert.ok(result.generatedTokens > 0, JSON.stringify(result));
  await context.dispose();
  await model.dispose();
  console.log(`cjs: ${info.addonSource} addon, CPU ${info.cpuVariant}, ${result.generatedTokens} tokens`);
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
