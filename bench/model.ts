/**
 * The benchmark model: a generated Mixtral-shaped mixture-of-experts model, quantized to
 * Q4_K_M with llama.cpp's own llama-quantize.
 *
 * Why generated: no download, fully reproducible, and the shape (not the weights) is what
 * decides speed. Why Mixtral-shaped and Q4_K_M: MoE expert matmuls (mul_mat_id) and k-quant
 * dot products are the hot paths of the models people actually run on CPUs; a toy F32 model
 * would measure mostly per-token overhead instead. Why a few hundred MB: large enough that
 * weights stream from memory like a real model's, small enough to build once in ~2 minutes
 * and to run rounds in seconds on 2 cores.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statfsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fixtureSource, writeFixtureModel, type FixtureSpec } from '../test/fixtures/models.js';
import { REPO_ROOT, runCapture } from './tools.js';

/** Quantization applied by llama-quantize: the common "default" choice for local models. */
export const QUANT_TYPE = 'Q4_K_M';

/**
 * Mixtral's layout scaled down: 8 experts, 2 used per token, grouped-query attention with
 * 4 query heads per KV head (Mixtral: 32/8), head size 64, the 32k Llama SPM vocabulary.
 * n_embd and n_ff are multiples of 256 so every weight can take a k-quant.
 * Full: ~0.8 B parameters, ~1.6 GB F16, ~465 MiB Q4_K_M.
 */
export const FULL_SPEC: FixtureSpec = {
  kind: 'moe',
  type: 'F16',
  seed: 1,
  embeddingLength: 1024,
  layerCount: 8,
  headCount: 16,
  headCountKv: 4,
  feedForwardLength: 3584,
  expertCount: 8,
  expertUsedCount: 2,
  contextLength: 4096,
};

/** `--quick`: the same layer shape with 2 layers (~150 MiB Q4_K_M), for smoke runs. */
export const QUICK_SPEC: FixtureSpec = { ...FULL_SPEC, layerCount: 2 };

/** Where bench models live: `<repo>/.cache/bench/` (git-ignored) or `$LLAMA_NAPI_BENCH_CACHE`. */
export function benchCacheDir(): string {
  return process.env['LLAMA_NAPI_BENCH_CACHE'] || join(REPO_ROOT, '.cache', 'bench');
}

/** The quantized model ready to benchmark. */
export interface BenchModel {
  path: string;
  sizeBytes: number;
  spec: FixtureSpec;
  /** Seconds spent generating/quantizing in this run (0 when both came from the cache). */
  buildSeconds: number;
}

/** Below this much free disk space, the F16 source is deleted once quantized. */
const KEEP_F16_MIN_FREE_BYTES = 8 * 2 ** 30;

/**
 * Returns the cached quantized model for `spec`, making it first if needed: the F16 model
 * with the fixture generator, then `llama-quantize <f16> <out> Q4_K_M <threads>`.
 *
 * The cache key covers the fixture spec and generator version and the vendored llama.cpp
 * commit (the quantizer's output can change with it). Both steps write to a temporary name
 * and rename, so an interrupted run never leaves a truncated model behind.
 */
export async function ensureBenchModel(
  spec: FixtureSpec,
  llamaQuantize: string,
  threads: number,
  log: (line: string) => void,
): Promise<BenchModel> {
  const pin = readFileSync(join(REPO_ROOT, 'vendor', 'llama.cpp.pin.json'), 'utf8');
  const key = createHash('sha256').update(`${fixtureSource(spec)}\n${pin}`).digest('hex').slice(0, 12);
  const dir = benchCacheDir();
  await mkdir(dir, { recursive: true });
  const f16 = join(dir, `moe-L${spec.layerCount}-F16-${key}.gguf`);
  const quant = join(dir, `moe-L${spec.layerCount}-${QUANT_TYPE}-${key}.gguf`);
  const started = performance.now();
  let built = false;

  if (!existsSync(quant)) {
    built = true;
    if (!existsSync(f16)) {
      log(`Generating the F16 model (${fixtureSource(spec)})…`);
      const temp = `${f16}.${process.pid}.tmp`;
      try {
        await writeFixtureModel(spec, temp);
        renameSync(temp, f16);
      } finally {
        rmSync(temp, { force: true });
      }
      log(`  ${f16} (${(statSync(f16).size / 2 ** 30).toFixed(2)} GiB)`);
    }
    log(`Quantizing to ${QUANT_TYPE} with llama-quantize (${threads} threads)…`);
    const temp = `${quant}.${process.pid}.tmp`;
    try {
      await runCapture(llamaQuantize, [f16, temp, QUANT_TYPE, String(threads)]);
      renameSync(temp, quant);
    } finally {
      rmSync(temp, { force: true });
    }
    if (statfsSync(dir).bavail * statfsSync(dir).bsize < KEEP_F16_MIN_FREE_BYTES) {
      log(`  disk is low: deleting the F16 source ${f16}`);
      rmSync(f16, { force: true });
    }
  }
  return {
    path: quant,
    sizeBytes: statSync(quant).size,
    spec,
    buildSeconds: built ? (performance.now() - started) / 1000 : 0,
  };
}
