/**
 * Random-moment races (issue 13): streams on one multi-sequence context with aborts, breaks,
 * context and model disposal at random moments, in a child process so that a crash or a hang is
 * a failed test. Two seeds, a fixed schedule each.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';

/** Rounds per seed: each a fresh context, 2–5 streams and one disruption. */
const ROUNDS = 15;

describe('random-moment races', () => {
  for (const seed of [1, 2]) {
    it(`seed ${seed}: every stream ends with tokens, a break or a coded error`, async () => {
      const path = await fixtureModel({ kind: 'moe', type: 'F32' });
      const outcome = await runChild('races.ts', [path, String(seed), String(ROUNDS)], 120_000);
      assert.equal(outcome.timedOut, false, `hung: ${describeOutcome(outcome)}`);
      assert.equal(outcome.signal, null, describeOutcome(outcome));
      assert.equal(outcome.code, 0, describeOutcome(outcome));
      const report = outcome.report as { rounds: number; counts: Record<string, number>; failures: string[] };
      assert.deepEqual(report.failures, []);
      const total = (prefix: string): number =>
        Object.entries(report.counts)
          .filter(([key]) => key.startsWith(prefix))
          .reduce((sum, [, n]) => sum + n, 0);
      assert.equal(total('action:'), ROUNDS);
      assert.ok(total('finish:') > 0, `some streams completed: ${JSON.stringify(report.counts)}`);
      assert.ok(total('error:ERR_DISPOSED') + total('break') + total('finish:abort') > 0, JSON.stringify(report.counts));
    });
  }
});
