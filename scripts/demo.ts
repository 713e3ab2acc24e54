/**
 * `npm run demo [model.gguf] [prompt]`: streams a completion with for await.
 *
 * Without a model path it generates a small Mixtral-shaped model (8 experts, 2 used per
 * token) with the real Llama/Mistral vocabulary but RANDOM weights: the text it streams is
 * gibberish by design. It shows the mechanics (load, progress, streaming, stats), not a model.
 */
import { loadModel } from '../lib/index.js';
import { fixtureModel, fixtureSource } from '../test/fixtures/models.js';

const [pathArg, promptArg] = process.argv.slice(2);
const prompt = promptArg ?? '[INST] Write a haiku about the sea [/INST]';

let path = pathArg;
if (path === undefined) {
  const spec = { kind: 'moe', type: 'Q8_0' } as const;
  path = await fixtureModel(spec);
  console.log(`No model given: using a generated Mixtral-shaped model with RANDOM weights (${fixtureSource(spec)}).`);
  console.log('Its output is meaningless text; pass a real GGUF to see a real model: npm run demo -- model.gguf "prompt"\n');
}

await using model = await loadModel(path, {
  onProgress: (p) => process.stderr.write(`\rloading ${(p * 100).toFixed(0)}%`),
});
process.stderr.write('\n');
const { info } = model;
console.log(`${info.architecture}, ${info.quantization}, ${(info.parameterCount / 1e6).toFixed(1)}M parameters, ` +
  `${info.layerCount} layers, ${info.expertCount} experts (${info.expertUsedCount} per token)`);
console.log(`prompt: ${prompt}\n`);

await using ctx = await model.createContext({ contextSize: 2048 });
const generation = ctx.generate(prompt, { maxTokens: 64, temperature: 0.7, repeatPenalty: 1.1, seed: 42 });
for await (const chunk of generation) process.stdout.write(chunk.text);
const r = await generation.result;
console.log(`\n\n${r.generatedTokens} tokens (${r.finishReason}); prompt ${r.promptTokensPerSecond.toFixed(0)} tok/s, ` +
  `generation ${r.generationTokensPerSecond.toFixed(0)} tok/s, first token after ${r.timeToFirstTokenMs?.toFixed(1)} ms`);
