/**
 * The process can end while native work is in flight: process.exit() or a signal handler that
 * exits, mid-generation, ends the process promptly with its exit code and no crash.
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
