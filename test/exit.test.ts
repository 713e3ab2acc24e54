/**
 * The process can end while native work is in flight: process.exit() or a signal handler that
 * exits, mid-generation or mid-load, ends the process promptly with its exit code and no crash.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';

describe('process exit during generation', () => {
  for (const how of ['exit', 'sigint']) {
    it(`${how === 'exit' ? 'process.exit()' : 'SIGINT handled by exit'} ends the process promptly`, async () => {
      const path = await fixtureModel({ kind: 'moe', type: 'F32' });
      const outcome = await runChild('exit-mid-generation.ts', [path, how], 30_000);
      assert.equal(outcome.signal, null, describeOutcome(outcome));
      assert.equal(outcome.code, 7, describeOutcome(outcome));
    });
  }
});

describe('process exit during a model load', () => {
  it('aborts the load and waits for its thread to leave llama.cpp before exiting', async () => {
    // ~70 MB read into memory (useMmap: false): the load is still running when its first
    // progress report reaches JS and calls process.exit().
    const path = await fixtureModel({ kind: 'llama', type: 'F32', embeddingLength: 256, feedForwardLength: 1024, layerCount: 4 });
    for (let run = 0; run < 3; run++) {
      const outcome = await runChild('exit-mid-load.ts', [path], 30_000);
      assert.equal(outcome.signal, null, describeOutcome(outcome));
      assert.equal(outcome.code, 5, describeOutcome(outcome));
      const report = outcome.report as { before: number; after: number; progress: number };
      assert.equal(report.before, 1, `the load was running when the process began to exit: ${outcome.stdout}`);
      assert.equal(report.after, 0, 'the exit handler left no load inside llama.cpp');
      assert.ok(report.progress < 1);
    }
  });
});
