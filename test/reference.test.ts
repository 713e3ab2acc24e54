// The binding's logits against a plain TypeScript forward pass (test/reference/), on the
// F32 dense and Mixtral-shaped fixtures: evidence that llama.cpp, through the binding,
// computes the model the GGUF describes, MoE routing included. The deliberate-bug checks
// show the tolerance is tight enough to catch a wrong graph.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../lib/context.js';
import { loadModel, type Model } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';
import { compareLogits } from './reference/compare.js';
import { referenceLogits, type BugOptions } from './reference/forward.js';
import { argmax, topK } from './reference/math.js';
import { loadRefModel, type RefModel } from './reference/tensors.js';

const CONTEXT = { contextSize: 256, threads: 2 } as const;

/** 2, 6 and 27 tokens (with BOS): the last exercises attention over many positions and rope far from 0. */
const PROMPTS = [
  'Hello',
  'The quick brown fox',
  'Mixture-of-experts models route every token through two of eight feed-forward networks, chosen by a router.',
];

/** Bugs the comparison must catch, and which fixtures they apply to. */
const BUGS: Array<{ name: string; bug: BugOptions; moeOnly?: boolean }> = [
  { name: 'NEOX rope pairing', bug: { ropePairing: 'neox' } },
  { name: 'query head h uses KV head h % n_head_kv', bug: { gqaMapping: 'modulo' } },
  { name: 'no residual around attention', bug: { attnResidual: false } },
  { name: 'top-2 expert weights not renormalised', bug: { expertWeights: 'raw' }, moeOnly: true },
  { name: 'experts picked by lowest probability', bug: { expertSelection: 'lowest' }, moeOnly: true },
];

for (const kind of ['llama', 'moe'] as const) {
  describe(`${kind} F32 fixture vs reference forward pass`, () => {
    let model: Model;
    let context: Context;
    let ref: RefModel;
    /** Binding logits and tokens per prompt, evaluated once. */
    const evaluated = new Map<string, { tokens: number[]; logits: Float32Array }>();

    before(async () => {
      const path = await fixtureModel({ kind, type: 'F32' });
      [model, ref] = await Promise.all([loadModel(path), loadRefModel(path)]);
      context = await model.createContext(CONTEXT);
      for (const prompt of PROMPTS) {
        const tokens = model.tokenize(prompt);
        evaluated.set(prompt, { tokens, logits: await context.evaluate(tokens) });
      }
    });

    after(async () => {
      await model?.dispose();
    });

    it('is the fixture shape the test assumes', () => {
      assert.equal(ref.hparams.nExpert, kind === 'moe' ? 8 : 0);
      assert.equal(ref.hparams.nHeadKv < ref.hparams.nHead, true, 'GQA must be exercised');
      assert.ok(evaluated.get(PROMPTS[2]!)!.tokens.length >= 20);
    });

    for (const prompt of PROMPTS) {
      it(`matches on ${JSON.stringify(prompt.slice(0, 24))}`, (t) => {
        const { tokens, logits } = evaluated.get(prompt)!;
        const want = referenceLogits(ref, tokens);
        const c = compareLogits(logits, want);
        // The same comparison against a reference without any F16 rounding shows how much
        // of the difference is the KV cache / flash attention precision.
        const exact = compareLogits(logits, referenceLogits(ref, tokens, { f16Kv: false }));
        t.diagnostic(
          `${tokens.length} tokens: max|Δ| ${c.maxAbsDiff.toExponential(2)} (F32 reference: ${exact.maxAbsDiff.toExponential(2)}), ` +
            `tolerance ${c.tolerance.toExponential(2)} of range ${c.range.toFixed(2)}`,
        );
        assert.ok(c.maxAbsDiff <= c.tolerance, `max |Δlogit| ${c.maxAbsDiff} exceeds ${c.tolerance}`);
        // Rounding-level differences alone must stay inside the tolerance too: a backend
        // attending in F32 rather than F16 still passes.
        assert.ok(exact.maxAbsDiff <= c.tolerance, `F32 reference: max |Δlogit| ${exact.maxAbsDiff} exceeds ${c.tolerance}`);
        assert.equal(argmax(logits), argmax(want));
        assert.deepEqual(new Set(topK(logits, 5)), new Set(topK(want, 5)));
      });
    }

    for (const { name, bug, moeOnly } of BUGS) {
      if (moeOnly && kind !== 'moe') continue;
      it(`would catch a bug: ${name}`, (t) => {
        const diffs = PROMPTS.map((prompt) => {
          const { tokens, logits } = evaluated.get(prompt)!;
          const c = compareLogits(logits, referenceLogits(ref, tokens, bug));
          assert.ok(c.maxAbsDiff > c.tolerance, `${name}: max |Δlogit| ${c.maxAbsDiff} within tolerance ${c.tolerance}`);
          return c.maxAbsDiff;
        });
        t.diagnostic(`max|Δ| per prompt: ${diffs.map((d) => d.toFixed(3)).join(', ')}`);
      });
    }
  });
}
