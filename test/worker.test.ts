/**
 * worker_threads: the addon works in several Node environments at once, and a worker torn
 * down mid-generation (worker.terminate()) stops its native threads without hurting the process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { loadModel } from '../lib/index.js';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';

const GREEDY = { temperature: 0, repeatPenalty: 1 } as const;

describe('worker_threads', () => {
  it('generates in a worker exactly what the main thread generates', async () => {
    const path = await fixtureModel({ kind: 'moe', type: 'F32' });
    const worker = new Worker(new URL('./child/worker-generate.mjs', import.meta.url), {
      workerData: { path, maxTokens: 12, contextSize: 256 },
    });
    const inWorker = await new Promise<number[]>((resolve, reject) => {
      worker.on('message', (m: { done?: boolean; tokens: number[] }) => m.done && resolve(m.tokens));
      worker.on('error', reject);
    });
    await worker.terminate();

    await using model = await loadModel(path);
    await using ctx = await model.createContext({ contextSize: 256, threads: 1 });
    const main = await ctx.generate('The quick brown fox', { ...GREEDY, maxTokens: 12 }).result;
    assert.deepEqual(inWorker, main.tokens);
  });

  it('survives worker.terminate() in the middle of a generation', async () => {
    const path = await fixtureModel({ kind: 'moe', type: 'F32' });
    const outcome = await runChild('worker-terminate.ts', [path], 60_000);
    assert.equal(outcome.signal, null, describeOutcome(outcome));
    assert.equal(outcome.code, 0, describeOutcome(outcome));
    const report = outcome.report as { received: number; after: number };
    assert.ok(report.received >= 3, describeOutcome(outcome));
    assert.equal(report.after, 4);
  });
});
