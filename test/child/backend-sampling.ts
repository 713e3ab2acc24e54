// Device (backend) sampling against host sampling on one fixture model, in a child process:
// llama.cpp's backend sampling API is experimental and GGML_ASSERTs on graphs it cannot build,
// so a crash here fails the parent's test with a signal instead of killing the runner.
// Prints one JSON line with every scenario's tokens and `sampledOn`; test/backend-sampling.test.ts
// makes the assertions.
import { loadModel, type Context, type GenerateOptions, type GenerationResult } from '../../lib/index.js';

// `greedy`: only the greedy scenarios (the quantized and MoE fixtures); `full`: every scenario.
const [path, scope = 'full'] = process.argv.slice(2);
const PROMPTS = ['The quick brown fox', 'Once upon a time in a land far away', 'Hello', 'Numbers: 1 2 3 4 5 6 7 8 9'];
const MAX_TOKENS = [14, 9, 16, 11];
// 'on': this machine has no GPU, and 'auto' samples on the device only when the output is offloaded.
const GREEDY = { temperature: 0, cachePrompt: false, deviceSampling: 'on' } as const;

type Run = Pick<GenerationResult, 'tokens' | 'sampledOn' | 'finishReason'>;
const brief = (r: GenerationResult): Run => ({ tokens: r.tokens, sampledOn: r.sampledOn, finishReason: r.finishReason });

/** Every prompt at once on one context (continuous batching), each with its options. */
async function together(context: Context, options: (i: number) => GenerateOptions): Promise<Run[]> {
  const results = await Promise.all(
    PROMPTS.map((prompt, i) => context.generate(prompt, { ...options(i), maxTokens: MAX_TOKENS[i] }).result),
  );
  return results.map(brief);
}

const model = await loadModel(path!);
const vocabularySize = model.info.vocabularySize;
const context = await model.createContext({ contextSize: 1024, batchSize: 64, threads: 2, sequences: 4 });
const report: Record<string, unknown> = { vocabularySize };

// Greedy: all four sequences on the device, all four on the host, and half and half.
report.greedyDevice = await together(context, () => ({ ...GREEDY, deviceSampling: 'on' }));
report.greedyHost = await together(context, () => ({ ...GREEDY, deviceSampling: 'off' }));
report.greedyMixed = await together(context, (i) => ({ ...GREEDY, deviceSampling: i % 2 === 0 ? 'on' : 'off' }));
if (scope === 'greedy') {
  await model.dispose();
  console.log(JSON.stringify(report));
  process.exit(0);
}

// Chains the device cannot run (or that need the logits) stay on the host.
const first = PROMPTS[0]!;
const fallback = async (options: GenerateOptions): Promise<Run> =>
  brief(await context.generate(first, { ...GREEDY, maxTokens: 8, ...options }).result);
report.fallback = {
  penalty: await fallback({ repeatPenalty: 1.3 }),
  logitBias: await fallback({ logitBias: { 5: -Infinity } }),
  grammar: await fallback({ grammar: 'root ::= [a-z ]+', maxTokens: 4 }),
  logprobs: await fallback({ logprobs: true }),
  // The default, 'auto', with the model on the CPU (no GPU here): llama.cpp's default, the host.
  auto: await fallback({ deviceSampling: 'auto' }),
};

// Seeded draws: reproducible on the device, alone or beside other sequences; a chain of one
// candidate (topK 1) picks the same token on either path.
const SEEDED = { temperature: 1.2, topK: 0, topP: 1, minP: 0, cachePrompt: false, maxTokens: 16, deviceSampling: 'on' } as const;
const seeded = async (options: GenerateOptions): Promise<Run> => brief(await context.generate(first, options).result);
report.seededDevice = [await seeded({ ...SEEDED, seed: 11 }), await seeded({ ...SEEDED, seed: 11 }), await seeded({ ...SEEDED, seed: 12 })];
report.seededBesideOthers = (await together(context, (i) => (i === 0 ? { ...SEEDED, seed: 11 } : { ...GREEDY })))[0];
report.seededHost = await seeded({ ...SEEDED, seed: 11, deviceSampling: 'off' });
report.topKOne = [
  await seeded({ ...SEEDED, topK: 1, seed: 3 }),
  await seeded({ ...SEEDED, topK: 1, seed: 3, deviceSampling: 'off' }),
];
// The default chain (top-k 40, top-p, min-p, temperature, draw) with a fixed seed, both paths.
report.defaultChain = [];
for (let seed = 1; seed <= 8; seed++) {
  const device = await seeded({ seed, maxTokens: 16, cachePrompt: false, deviceSampling: 'on' });
  const host = await seeded({ seed, maxTokens: 16, cachePrompt: false, deviceSampling: 'off' });
  (report.defaultChain as Run[][]).push([device, host]);
}

// ggml_top_k asserts k <= the row length: k = the vocabulary runs on the device, k above it on the host.
report.topKVocabulary = await seeded({ ...SEEDED, topK: vocabularySize, seed: 5 });
report.topKAboveVocabulary = await seeded({ ...SEEDED, topK: vocabularySize + 1, seed: 5 });

// Abort a device-sampled generation mid-way; the context stays usable and greedy again.
const controller = new AbortController();
const running = context.generate(first, { ...GREEDY, maxTokens: 10_000, signal: controller.signal });
let seen = 0;
for await (const chunk of running) {
  seen += chunk.tokens.length;
  if (seen >= 3) controller.abort();
}
report.aborted = brief(await running.result);
report.afterAbort = brief(await context.generate(first, { ...GREEDY, maxTokens: MAX_TOKENS[0] }).result);

// Dispose while device-sampled generations run: they end (abort or ERR_DISPOSED), no crash.
const other = await model.createContext({ contextSize: 512, batchSize: 64, threads: 2, sequences: 2 });
const pending = [0, 1].map((i) =>
  other.generate(PROMPTS[i]!, { ...GREEDY, maxTokens: 10_000 }).result.then(
    (r) => r.finishReason,
    (e: { code?: string }) => e.code ?? 'error',
  ),
);
await new Promise((resolve) => setTimeout(resolve, 50));
await other.dispose();
report.disposedMidGeneration = await Promise.all(pending);

await model.dispose();
console.log(JSON.stringify(report));
