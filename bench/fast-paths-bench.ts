/**
 * `npm run bench -- --only fast-paths`: what the greedy fast path is worth. With `temperature: 0`
 * and nothing else in the chain, the addon takes the argmax of the logits itself instead of
 * running llama.cpp's sampler chain (which first copies all 32k logits into a candidate array).
 * The chain is forced here, with the same result, by a zero logit bias on one token (a bias stage
 * that changes nothing, then greedy).
 *
 * Two models: the Mixtral-shaped bench model, where a token's decode takes ~20 ms on 2 CPUs, and
 * the test suite's tiny F32 Llama (same 32k vocabulary), where the decode is so small that the
 * per-token cost outside it shows. Rounds alternate the two ways; each reports generation
 * tokens/s of 128-token greedy runs, and the difference is given in µs per token.
 */
import { loadModel } from '../lib/index.js';
import { fixtureModel } from '../test/fixtures/models.js';
import { fmt, median, pct, table } from './stats.js';

const N_GEN = 128;

export interface FastPathsOptions {
  benchModel: string;
  threads: number;
  rounds: number;
  reps: number;
  log: (line: string) => void;
}

type Way = 'fast path' | 'sampler chain';

/** Tokens/s samples of each way for one model. */
async function measure(path: string, o: FastPathsOptions): Promise<Record<Way, number[]>> {
  await using model = await loadModel(path);
  await using ctx = await model.createContext({ contextSize: N_GEN + 16, threads: o.threads, threadsBatch: o.threads });
  const prompt = [model.info.bosToken];
  const run = async (way: Way): Promise<number> => {
    const logitBias = way === 'sampler chain' ? { 0: 0 } : undefined;
    const r = await ctx.generate(prompt, { temperature: 0, repeatPenalty: 1, cachePrompt: false, maxTokens: N_GEN, ...(logitBias ? { logitBias } : {}) })
      .result;
    return r.generationTokensPerSecond;
  };
  await run('fast path');
  await run('sampler chain');
  const samples: Record<Way, number[]> = { 'fast path': [], 'sampler chain': [] };
  for (let r = 0; r < o.rounds; r++) {
    const order: Way[] = r % 2 === 0 ? ['fast path', 'sampler chain'] : ['sampler chain', 'fast path'];
    for (const way of order) for (let i = 0; i < o.reps; i++) samples[way].push(await run(way));
  }
  return samples;
}

export async function runFastPathsBench(o: FastPathsOptions): Promise<void> {
  const tiny = await fixtureModel({ kind: 'llama', type: 'F32' });
  const rows: string[][] = [];
  for (const [name, path] of [['Mixtral-shaped Q4_K_M (bench model)', o.benchModel], ['tiny F32 Llama (test fixture)', tiny]] as const) {
    const s = await measure(path, o);
    const fast = median(s['fast path']);
    const chain = median(s['sampler chain']);
    rows.push([name, fmt(fast), fmt(chain), pct(fast / chain), fmt(1e6 / chain - 1e6 / fast, 0), fmt(1e6 / fast, 0)]);
  }
  o.log('');
  o.log(`Greedy fast path against llama.cpp's sampler chain (same tokens), ${o.rounds} alternating rounds x ${o.reps} runs of ${N_GEN} tokens, medians:`);
  o.log(table(['model', 'fast path tok/s', 'chain tok/s', 'fast/chain', 'saved µs/token', 'µs/token (fast)'], rows));
}
