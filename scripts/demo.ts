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

const progress = loadProgress(process.stderr);
await using model = await loadModel(path, { onProgress: progress.report });
progress.done();
const { info } = model;
console.log(`${info.architecture}, ${info.quantization}, ${(info.parameterCount / 1e6).toFixed(1)}M parameters, ` +
  `${info.layerCount} layers, ${info.expertCount} experts (${info.expertUsedCount} per token)`);
console.log(`prompt: ${prompt}\n`);

await using ctx = await model.createContext({ contextSize: 2048 });
// The Mixtral-8x7B-Instruct model card's recommended settings (not the library's defaults,
// which are llama.cpp's), and a fixed seed so that runs repeat.
const generation = ctx.generate(prompt, { maxTokens: 64, temperature: 0.7, repeatPenalty: 1.1, seed: 42 });
for await (const chunk of generation) process.stdout.write(chunk.text);
const r = await generation.result;
console.log(`\n\n${r.generatedTokens} tokens (${r.finishReason}); prompt ${r.promptTokensPerSecond.toFixed(0)} tok/s, ` +
  `generation ${r.generationTokensPerSecond.toFixed(0)} tok/s, first token after ${r.timeToFirstTokenMs?.toFixed(1)} ms`);

/**
 * Load progress on `stream`: on a terminal one line rewritten in place (`\r`); anywhere else (a
 * pipe, a log file, CI) a line at the first report and each time another quarter is passed, so
 * that a log reads `loading 0%`, `loading 26%`, …, `loading 100%` on separate lines instead of
 * one run-on line.
 */
function loadProgress(stream: NodeJS.WriteStream): { report: (p: number) => void; done: () => void } {
  let shown = -1;
  if (stream.isTTY) {
    return {
      report: (p) => {
        const percent = Math.floor(p * 100);
        if (percent === shown) return;
        shown = percent;
        stream.write(`\rloading ${percent}%`);
      },
      done: () => {
        if (shown >= 0) stream.write('\n');
      },
    };
  }
  return {
    report: (p) => {
      const quarter = Math.floor(p * 4);
      if (quarter <= shown) return;
      shown = quarter;
      stream.write(`loading ${Math.floor(p * 100)}%\n`);
    },
    done: () => {},
  };
}
