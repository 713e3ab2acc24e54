// quantize(): llama.cpp's quantizer from a generated F16 Mixtral-shaped model to each type of
// the model card's table; every result loads, says what it is, generates, and its logits stay
// close to the F16 model's. Kept fast for 2 cores: a ~20M-weight model, threads 2.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LlamaError } from '../lib/errors.js';
import { setLogger } from '../lib/logger.js';
import type { ModelInfo } from '../lib/model-info.js';
import { loadModel } from '../lib/model.js';
import { QUANTIZATION_TYPES, quantize, type QuantizationType } from '../lib/quantize.js';
import { fixtureModel } from './fixtures/models.js';

// Mixtral-shaped (8 experts, 2 used per token). Rows of 256 values: k-quants work on
// super-blocks of 256, so every tensor gets its intended type instead of a fallback.
// headCount 4 keeps head_dim at 64.
const SPEC = { kind: 'moe', type: 'F16', embeddingLength: 256, feedForwardLength: 256, headCount: 4, headCountKv: 2 } as const;
const THREADS = 2;
const CONTEXT = { contextSize: 128, batchSize: 64, threads: THREADS } as const;
const PROMPTS = ['The quick brown fox', 'Once upon a time', '[INST] Write a haiku [/INST]', 'Hello world', 'In the beginning'];

/**
 * Largest tolerated error per type, relative so that it does not depend on the logits' scale:
 * `typical` bounds the median over PROMPTS of max|Δlogit| / range (range = max − min of the
 * F16 logits over the vocabulary), `worst` the largest single prompt, and `rms` the median of
 * RMS(Δlogit) / RMS(F16 logit − mean).
 *
 * Measured on this fixture (x86-64 AVX2, 2 threads; the last test prints the table): medians
 * of max|Δ|/range 0.009 (Q8_0), 0.032 (Q6_K), 0.039 (Q5_K_M), 0.049 (Q5_0), 0.087 (Q4_K_M),
 * 0.089 (Q4_0), 0.136 (Q3_K_M), 0.243 (Q2_K): the error shrinks as the bits grow (about 28×
 * from 4.35 to 8.51 bits per weight). Tolerances are about 2× the measurement (1.6× for Q2_K),
 * room for other CPUs' SIMD kernels. The median, not the maximum, because of the router: a
 * small error that changes which 2 of the 8 experts a token takes moves the logits by a step
 * (0.16–0.17 of the range, measured for Q5_K_M and Q5_0 on "Once upon a time"); `worst` admits
 * one such step per type.
 */
const TOLERANCE: Record<string, { name: string; typical: number; worst: number; rms: number }> = {
  Q8_0: { name: 'Q8_0', typical: 0.02, worst: 0.3, rms: 0.035 },
  Q6_K: { name: 'Q6_K', typical: 0.06, worst: 0.3, rms: 0.12 },
  Q5_K_M: { name: 'Q5_K - Medium', typical: 0.08, worst: 0.35, rms: 0.16 },
  Q5_0: { name: 'Q5_0', typical: 0.1, worst: 0.35, rms: 0.2 },
  Q4_K_M: { name: 'Q4_K - Medium', typical: 0.15, worst: 0.4, rms: 0.3 },
  Q4_0: { name: 'Q4_0', typical: 0.15, worst: 0.4, rms: 0.35 },
  Q3_K_M: { name: 'Q3_K - Medium', typical: 0.25, worst: 0.45, rms: 0.5 },
  Q2_K: { name: 'Q2_K - Medium', typical: 0.4, worst: 0.6, rms: 0.8 },
};
const TYPES = Object.keys(TOLERANCE) as QuantizationType[];

interface Measured {
  info: ModelInfo;
  bitsPerWeight: number;
  /** Median / max over PROMPTS of max|Δ| / range of the F16 logits. */
  maxRelMedian: number;
  maxRelWorst: number;
  /** Median over PROMPTS of RMS(Δ) / RMS(F16 logits − their mean). */
  rmsRelMedian: number;
  sameArgmax: number;
  progressCalls: number;
}

let input: string;
let dir: string;
let base: { info: ModelInfo; logits: Float32Array[] };
const measured = new Map<QuantizationType, Measured>();

async function evaluateModel(path: string): Promise<{ info: ModelInfo; logits: Float32Array[]; generated: number }> {
  await using model = await loadModel(path);
  await using context = await model.createContext(CONTEXT);
  const logits: Float32Array[] = [];
  for (const prompt of PROMPTS) logits.push(await context.evaluate(model.tokenize(prompt)));
  const { tokens } = await context.generate(PROMPTS[0]!, { temperature: 0, repeatPenalty: 1, maxTokens: 4 }).result;
  return { info: model.info, logits, generated: tokens.length };
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Per prompt: max|Δ| / range and RMS(Δ) / RMS deviation of the reference, and argmax agreement. */
function compare(reference: Float32Array, other: Float32Array): { maxRel: number; rmsRel: number; sameArgmax: boolean } {
  let min = Infinity;
  let max = -Infinity;
  let mean = 0;
  for (const v of reference) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    mean += v / reference.length;
  }
  let maxDelta = 0;
  let sumDelta2 = 0;
  let sumDev2 = 0;
  for (let i = 0; i < reference.length; i++) {
    const delta = Math.abs(reference[i]! - other[i]!);
    maxDelta = Math.max(maxDelta, delta);
    sumDelta2 += delta * delta;
    sumDev2 += (reference[i]! - mean) ** 2;
  }
  return { maxRel: maxDelta / (max - min), rmsRel: Math.sqrt(sumDelta2 / sumDev2), sameArgmax: argmax(reference) === argmax(other) };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

before(async () => {
  input = await fixtureModel(SPEC);
  dir = await mkdtemp(join(tmpdir(), 'llama-napi-quantize-'));
  base = await evaluateModel(input);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('quantize to each type of the model card', () => {
  for (const type of TYPES) {
    it(`${type}: loads, reports its type and size, generates, stays near the F16 logits`, async () => {
      const output = join(dir, `${type}.gguf`);
      const progress: number[] = [];
      await quantize(input, output, { type, threads: THREADS, onProgress: (p) => progress.push(p) });

      assert.ok(progress.length >= 2, `progress calls: ${progress.length}`);
      assert.equal(progress.at(-1), 1);
      for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! > progress[i - 1]!, `progress not increasing: ${progress}`);
      assert.ok(progress.every((p) => p >= 0 && p <= 1));

      const result = await evaluateModel(output);
      const { info } = result;
      assert.equal(info.quantization, TOLERANCE[type]!.name);
      assert.equal(info.fileSize, (await stat(output)).size);
      assert.equal(info.parameterCount, base.info.parameterCount);
      assert.ok(info.sizeBytes < base.info.sizeBytes, `${info.sizeBytes} >= F16 ${base.info.sizeBytes}`);
      assert.ok(info.fileSize < base.info.fileSize);
      assert.equal(result.generated, 4);
      // A vocabulary-only load describes the same file (its size, type and shape come from the header).
      const vocab = await loadModel(output, { vocabOnly: true });
      const facts = (i: ModelInfo) => [i.quantization, i.fileType, i.parameterCount, i.sizeBytes, i.trainedContextLength, i.embeddingLength, i.layerCount, i.expertCount];
      assert.deepEqual(facts(vocab.info), facts(info));
      await vocab.dispose();

      const per = base.logits.map((reference, i) => compare(reference, result.logits[i]!));
      const m: Measured = {
        info,
        bitsPerWeight: (info.sizeBytes * 8) / info.parameterCount,
        maxRelMedian: median(per.map((p) => p.maxRel)),
        maxRelWorst: Math.max(...per.map((p) => p.maxRel)),
        rmsRelMedian: median(per.map((p) => p.rmsRel)),
        sameArgmax: per.filter((p) => p.sameArgmax).length,
        progressCalls: progress.length,
      };
      measured.set(type, m);
      const tolerance = TOLERANCE[type]!;
      assert.ok(m.maxRelMedian <= tolerance.typical, `${type}: median max|Δ|/range ${m.maxRelMedian.toFixed(4)} > ${tolerance.typical}`);
      assert.ok(m.maxRelWorst <= tolerance.worst, `${type}: worst max|Δ|/range ${m.maxRelWorst.toFixed(4)} > ${tolerance.worst}`);
      assert.ok(m.rmsRelMedian <= tolerance.rms, `${type}: median RMS Δ / RMS ${m.rmsRelMedian.toFixed(4)} > ${tolerance.rms}`);
    });
  }

  it('orders sizes and errors by bits per weight', (t) => {
    assert.equal(measured.size, TYPES.length, 'every type was measured');
    const rows = TYPES.map((type) => {
      const m = measured.get(type)!;
      return `| ${type} | ${m.info.fileSize.toLocaleString('en-US')} | ${m.bitsPerWeight.toFixed(2)} | ${m.maxRelMedian.toFixed(4)} (max ${m.maxRelWorst.toFixed(4)}) | ${m.rmsRelMedian.toFixed(4)} | ${m.sameArgmax}/${PROMPTS.length} |`;
    });
    for (const line of ['| type | file bytes | bits/weight | max|Δ|/range (median, max) | RMS Δ / RMS | same argmax |', '|---|---|---|---|---|---|', ...rows]) {
      t.diagnostic(line);
    }

    const size = (type: QuantizationType): number => measured.get(type)!.info.sizeBytes;
    // The k-quant ladder and the legacy ladder each shrink monotonically.
    for (const chain of [['Q8_0', 'Q6_K', 'Q5_K_M', 'Q4_K_M', 'Q3_K_M', 'Q2_K'], ['Q8_0', 'Q5_0', 'Q4_0', 'Q2_K']] as const) {
      for (let i = 1; i < chain.length; i++) assert.ok(size(chain[i]!) < size(chain[i - 1]!), `${chain[i]} not smaller than ${chain[i - 1]}`);
    }
    // Loosely (types two or more steps apart, where the gap is 2.5–4× measured), fewer bits
    // mean larger errors, by either metric.
    const error = (type: QuantizationType): number => measured.get(type)!.maxRelMedian;
    const rms = (type: QuantizationType): number => measured.get(type)!.rmsRelMedian;
    for (const [better, worse] of [['Q8_0', 'Q6_K'], ['Q6_K', 'Q4_K_M'], ['Q5_K_M', 'Q3_K_M'], ['Q4_K_M', 'Q2_K'], ['Q8_0', 'Q4_0'], ['Q5_0', 'Q2_K']] as const) {
      assert.ok(error(better) < error(worse), `max|Δ|: ${better} ${error(better)} >= ${worse} ${error(worse)}`);
      assert.ok(rms(better) < rms(worse), `RMS: ${better} ${rms(better)} >= ${worse} ${rms(worse)}`);
    }
  });
});

describe('quantize errors, abort and progress', () => {
  it('lists the types it supports, none that needs an importance matrix', () => {
    assert.ok(Object.isFrozen(QUANTIZATION_TYPES));
    for (const type of TYPES) assert.ok(QUANTIZATION_TYPES.includes(type), type);
    assert.ok(!QUANTIZATION_TYPES.includes('Q2_K_S' as QuantizationType));
    assert.ok(!QUANTIZATION_TYPES.some((type) => type.startsWith('IQ')));
  });

  it('rejects bad arguments and options with TypeError / RangeError', async () => {
    const out = join(dir, 'never.gguf');
    const cases: Array<[unknown[], ErrorConstructor, RegExp]> = [
      [[42, out, { type: 'Q4_0' }], TypeError, /argument "input": expected a non-empty string, got 42/],
      [['', out, { type: 'Q4_0' }], RangeError, /argument "input"/],
      [[input, undefined, { type: 'Q4_0' }], TypeError, /argument "output"/],
      [[input, out], TypeError, /option "type": expected one of "F16", .*"Q2_K", got undefined/],
      [[input, out, null], TypeError, /quantize options: expected an object or undefined, got null/],
      [[input, out, { type: 4 }], TypeError, /option "type"/],
      [[input, out, { type: 'Q4_K' }], RangeError, /option "type": expected one of .*, got "Q4_K"/],
      [[input, out, { type: 'IQ2_XXS' }], RangeError, /option "type"/],
      [[input, out, { type: 'Q4_0', threads: 0 }], RangeError, /option "threads": expected an integer in \[1, 256\], got 0/],
      [[input, out, { type: 'Q4_0', threads: 1.5 }], RangeError, /option "threads"/],
      [[input, out, { type: 'Q4_0', threads: '2' }], TypeError, /option "threads"/],
      [[input, out, { type: 'Q4_0', onProgress: 1 }], TypeError, /option "onProgress": expected a function/],
      [[input, out, { type: 'Q4_0', signal: {} }], TypeError, /option "signal": expected an AbortSignal/],
      [[input, out, { type: 'Q4_0', thread: 2 }], TypeError, /option "thread": not a known quantize options key/],
      [[input, input, { type: 'Q4_0' }], RangeError, /argument "output": expected a path other than input/],
    ];
    for (const [args, kind, message] of cases) {
      await assert.rejects((quantize as (...a: unknown[]) => Promise<void>)(...args), (error: Error) => {
        assert.ok(error instanceof kind, `${JSON.stringify(args)}: ${error}`);
        assert.match(error.message, message);
        return true;
      });
    }
    assert.ok(!(await exists(out)));
  });

  it('a missing input is ERR_QUANTIZE with cause ERR_FILE_NOT_FOUND, with the caller in the stack', async () => {
    const missing = join(dir, 'missing.gguf');
    await assert.rejects(quantize(missing, join(dir, 'out.gguf'), { type: 'Q4_0' }), (error: LlamaError) => {
      assert.ok(error instanceof LlamaError);
      assert.equal(error.code, 'ERR_QUANTIZE');
      assert.equal((error.cause as LlamaError).code, 'ERR_FILE_NOT_FOUND');
      assert.match(error.message, /missing\.gguf/);
      assert.match(error.stack!, /quantize\.test\.ts/);
      return true;
    });
  });

  it('a corrupt input is ERR_QUANTIZE with cause ERR_GGUF_INVALID', async () => {
    const corrupt = join(dir, 'corrupt.gguf');
    await writeFile(corrupt, 'GGUF but not really');
    await assert.rejects(quantize(corrupt, join(dir, 'out.gguf'), { type: 'Q4_0' }), (error: LlamaError) => {
      assert.equal(error.code, 'ERR_QUANTIZE');
      assert.equal((error.cause as LlamaError).code, 'ERR_GGUF_INVALID');
      return true;
    });
    await rm(corrupt);
  });

  it("an output folder that does not exist is ERR_QUANTIZE before llama.cpp starts", async () => {
    await assert.rejects(quantize(input, join(dir, 'no', 'such', 'out.gguf'), { type: 'Q4_0' }), (error: LlamaError) => {
      assert.equal(error.code, 'ERR_QUANTIZE');
      assert.equal((error.cause as LlamaError).code, 'ERR_FILE_NOT_FOUND');
      return true;
    });
  });

  it("llama.cpp's own refusal (re-quantizing a quantized file) is ERR_QUANTIZE with its reason, leaving nothing behind", async () => {
    const quantized = join(dir, 'Q8_0.gguf');
    assert.ok(await exists(quantized), 'made by the Q8_0 test above');
    const out = join(dir, 'requantized.gguf');
    await assert.rejects(quantize(quantized, out, { type: 'Q4_0', threads: THREADS }), (error: LlamaError) => {
      assert.ok(error instanceof LlamaError);
      assert.equal(error.code, 'ERR_QUANTIZE');
      assert.match(error.message, /requantizing from type q8_0 is disabled/);
      assert.match(error.stack!, /quantize\.test\.ts/);
      return true;
    });
    assert.ok(!(await exists(out)));
    assert.deepEqual((await readdir(dir)).filter((name) => name.includes('.tmp-')), []);
  });

  it('an already aborted signal rejects ERR_ABORTED and writes nothing', async () => {
    const out = join(dir, 'aborted.gguf');
    const reason = new Error('no thanks');
    await assert.rejects(quantize(input, out, { type: 'Q4_0', signal: AbortSignal.abort(reason) }), (error: LlamaError) => {
      assert.equal(error.code, 'ERR_ABORTED');
      assert.equal(error.cause, reason);
      return true;
    });
    assert.ok(!(await exists(out)));
  });

  it('an abort while running waits for llama.cpp, then rejects ERR_ABORTED and deletes the output', async () => {
    const out = join(dir, 'aborted-late.gguf');
    const controller = new AbortController();
    const seen: number[] = [];
    const onProgress = (p: number): void => {
      seen.push(p);
      if (p > 0) controller.abort();
    };
    await assert.rejects(quantize(input, out, { type: 'Q8_0', threads: THREADS, onProgress, signal: controller.signal }), (error: LlamaError) => {
      assert.equal(error.code, 'ERR_ABORTED');
      return true;
    });
    assert.ok(controller.signal.aborted);
    assert.equal(seen.filter((p) => p > 0).length, 1, 'no progress reported after the abort');
    assert.ok(!(await exists(out)));
    assert.deepEqual((await readdir(dir)).filter((name) => name.includes('.tmp-')), []);
  });

  it('a throwing onProgress is reported to the logger and breaks nothing', async () => {
    const out = join(dir, 'throwing.gguf');
    const warnings: string[] = [];
    setLogger((level, message) => {
      if (level === 'warn') warnings.push(message);
    });
    try {
      await quantize(input, out, {
        type: 'Q8_0',
        threads: THREADS,
        onProgress: () => {
          throw new Error('progress callback bug');
        },
      });
    } finally {
      setLogger(null);
    }
    assert.ok((await stat(out)).size > 0);
    assert.ok(warnings.some((w) => w.includes('progress callback bug')), warnings.join('\n'));
    await rm(out);
  });
});
