/**
 * GPU check and benchmark, for a CUDA (or other GPU) build of the addon; run by
 * scripts/gpu-check.sh on a lent GPU machine, never in CI.
 *
 * 1. Correctness: the F32 dense and MoE fixtures give the same logits and the same greedy
 *    tokens with every layer on the GPU as on the CPU (within a float tolerance).
 * 2. Speed: for gpuLayers 0, half and all, llama-bench and the binding alternate on the
 *    benchmark's Mixtral-shaped Q4_K_M model with the same settings; ratios binding/native.
 *
 * Usage: node --import tsx bench/gpu.ts [--out DIR] [--threads N] [--rounds N] [--correctness-only]
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { getBuildInfo, loadModel } from '../lib/index.js';
import { fixtureModel } from '../test/fixtures/models.js';
import { runBindingRound } from './binding-bench.js';
import { ensureBenchModel, FULL_SPEC } from './model.js';
import { findTest, runLlamaBench } from './native-bench.js';
import { fmt, median, mib, pct, table } from './stats.js';
import { ensureTools } from './tools.js';
import { inAlternatingOrder } from './alternate.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const outDir = flag('--out', '.');
const threads = Number(flag('--threads', String(Math.min(8, availableParallelism()))));
const rounds = Number(flag('--rounds', '2'));
const lines: string[] = [];
const say = (line: string): void => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};

/** Largest absolute difference between two logit vectors, and whether their argmax agrees. */
function compareLogits(a: Float32Array, b: Float32Array): { maxAbs: number; sameArgmax: boolean } {
  let maxAbs = 0;
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
    if (a[i]! > a[ia]!) ia = i;
    if (b[i]! > b[ib]!) ib = i;
  }
  return { maxAbs, sameArgmax: ia === ib };
}

async function greedyAndLogits(path: string, gpuLayers: number | 'max', prompt: string) {
  await using model = await loadModel(path, { gpuLayers });
  await using ctx = await model.createContext({ contextSize: 256, threads });
  const tokens = model.tokenize(prompt);
  const logits = await ctx.evaluate(tokens);
  const result = await ctx.generate(tokens, { temperature: 0, repeatPenalty: 1, maxTokens: 24 }).result;
  return { logits, tokens: result.tokens };
}

async function correctness(): Promise<boolean> {
  say('## Correctness: all layers on the GPU vs CPU (F32 fixtures)');
  const rows: string[][] = [];
  let ok = true;
  for (const kind of ['llama', 'moe'] as const) {
    const path = await fixtureModel({ kind, type: 'F32' });
    for (const prompt of ['The quick brown fox', '[INST] Write a haiku about the sea [/INST]']) {
      const cpu = await greedyAndLogits(path, 0, prompt);
      const gpu = await greedyAndLogits(path, 'max', prompt);
      const { maxAbs, sameArgmax } = compareLogits(cpu.logits, gpu.logits);
      const sameTokens = cpu.tokens.every((t, i) => gpu.tokens[i] === t) && cpu.tokens.length === gpu.tokens.length;
      // F32 weights; the GPU sums in another order (and may use tensor-core F16/TF32 paths).
      const pass = maxAbs < 1e-2 && sameArgmax;
      ok &&= pass;
      rows.push([kind, JSON.stringify(prompt), maxAbs.toExponential(2), String(sameArgmax), String(sameTokens), pass ? 'PASS' : 'FAIL']);
    }
  }
  say(table(['fixture', 'prompt', 'max |Δlogit|', 'same argmax', 'same 24 greedy tokens', ''], rows));
  return ok;
}

async function speed(): Promise<void> {
  const tools = await ensureTools((l) => say(l));
  const model = await ensureBenchModel(FULL_SPEC, tools.llamaQuantize, availableParallelism(), (l) => say(l));
  const layers = FULL_SPEC.layerCount ?? 8;
  say(`\n## Speed: ${model.path} (${mib(model.sizeBytes)} Q4_K_M, ${layers} layers), ${threads} threads, ${rounds} alternating rounds`);
  const rows: string[][] = [];
  for (const ngl of [0, Math.floor(layers / 2), layers + 1]) {
    const native = { pp: [] as number[], tg: [] as number[] };
    const binding = { pp: [] as number[], tg: [] as number[], p99: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      const runNative = async () => {
        const results = await runLlamaBench({
          llamaBench: tools.llamaBench, model: model.path, threads: [threads], poll: [50], prompts: [512], generate: 128,
          repetitions: 3, batchSize: 2048, ubatchSize: 512, gpuLayers: ngl,
        });
        native.pp.push(findTest(results, { nPrompt: 512, nGen: 0, threads, poll: 50 })?.avgTs ?? Number.NaN);
        native.tg.push(findTest(results, { nPrompt: 0, nGen: 128, threads, poll: 50 })?.avgTs ?? Number.NaN);
      };
      const runBinding = async () => {
        const b = await runBindingRound({
          modelPath: model.path, threads, poll: 50, nPrompt: 512, nGen: 128, ttftPrompt: 16, repetitions: 3,
          batchSize: 2048, ubatchSize: 512, gpuLayers: ngl,
        });
        binding.pp.push(median(b.ppTs));
        binding.tg.push(median(b.tgTs));
        binding.p99.push(b.loop.p99Ms);
      };
      await inAlternatingOrder(r, runNative, runBinding);
    }
    const label = ngl === 0 ? '0 (CPU)' : ngl > layers ? `${ngl} (all)` : `${ngl} (half)`;
    rows.push([label, 'pp512', fmt(median(native.pp)), fmt(median(binding.pp)), pct(median(binding.pp) / median(native.pp)), '']);
    rows.push([label, 'tg128', fmt(median(native.tg)), fmt(median(binding.tg)), pct(median(binding.tg) / median(native.tg)), fmt(median(binding.p99), 2)]);
  }
  say(table(['gpuLayers', 'test', 'llama-bench t/s', 'binding t/s', 'binding/native', 'event-loop p99 ms'], rows));
  say('Experts kept on the CPU (--n-cpu-moe): not measured; tensor placement options come with the offload issue.');
}

say(`# llama-napi GPU check\n${JSON.stringify(getBuildInfo())}\n`);
const ok = await correctness();
if (!args.includes('--correctness-only')) await speed();
writeFileSync(join(outDir, 'gpu-results.md'), `${lines.join('\n')}\n`);
process.exitCode = ok ? 0 : 1;
