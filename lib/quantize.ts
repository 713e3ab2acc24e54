/**
 * Quantizing a GGUF model with llama.cpp's own quantizer (`llama_model_quantize`), the same
 * code path as its `llama-quantize` tool.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { loadAddon } from './addon.js';
import { LlamaError, captureCallerStack, fromNativeError, withCallerStack } from './errors.js';
import { readGguf } from './gguf/index.js';
import { guardCallback } from './logger.js';
import { MAX_THREADS, defaultThreads } from './options/context.js';
import { argRangeError, functionOption, integerOption, invalidMessage, nonEmptyString, optionsObject, rangeError, signalOption, typeError } from './validate.js';

/**
 * Target types and their `llama_ftype` numbers (include/llama.h `enum llama_ftype`).
 *
 * Only types that need no importance matrix: `Q2_K_S` and most IQ* types refuse to run
 * without one, and this API does not take one (yet).
 */
const FTYPES = {
  F16: 1,
  BF16: 32,
  Q8_0: 7,
  Q6_K: 18,
  Q5_1: 9,
  Q5_K_M: 17,
  Q5_K_S: 16,
  Q5_0: 8,
  Q4_1: 3,
  Q4_K_M: 15,
  Q4_K_S: 14,
  Q4_0: 2,
  Q3_K_L: 13,
  Q3_K_M: 12,
  Q3_K_S: 11,
  Q2_K: 10,
} as const satisfies Record<QuantizationType, number>;

/** A target type of {@link quantize}: llama.cpp's `llama-quantize` name of the file type. */
export type QuantizationType =
  | 'F16'
  | 'BF16'
  | 'Q8_0'
  | 'Q6_K'
  | 'Q5_1'
  | 'Q5_K_M'
  | 'Q5_K_S'
  | 'Q5_0'
  | 'Q4_1'
  | 'Q4_K_M'
  | 'Q4_K_S'
  | 'Q4_0'
  | 'Q3_K_L'
  | 'Q3_K_M'
  | 'Q3_K_S'
  | 'Q2_K';

/**
 * Every {@link QuantizationType}, from the most bits per weight to the fewest (as on a 7B
 * Llama; the mixed types' share of larger tensors varies with the model's shape).
 */
export const QUANTIZATION_TYPES: readonly QuantizationType[] = Object.freeze(Object.keys(FTYPES) as QuantizationType[]);

/** Options of {@link quantize}. */
export interface QuantizeOptions {
  /**
   * The file type to produce, e.g. `'Q4_K_M'` (see {@link QUANTIZATION_TYPES}). As with
   * `llama-quantize`, mixed types (`_S`/`_M`/`_L`) keep some tensors at more bits, and the
   * 1-D tensors (norms) stay F32. The input must be F32, F16 or BF16: re-quantizing an
   * already quantized file is refused (`ERR_QUANTIZE`).
   */
  type: QuantizationType;
  /** Threads that quantize rows, `[1, 256]`. Default {@link defaultThreads}(). */
  threads?: number;
  /**
   * Called with the progress in `[0, 1]` (the share of tensors written, at most every 1%, and
   * `1` once the file is complete), always before the promise settles. A callback that throws
   * is ignored (and reported through {@link setLogger}) so it cannot break the run.
   */
  onProgress?: (progress: number) => void;
  /**
   * Cancels the run. A signal that is already aborted rejects with `ERR_ABORTED` before
   * anything starts. llama.cpp's quantizer cannot be interrupted, so a signal that fires
   * while it runs takes effect when it finishes: the promise then rejects with `ERR_ABORTED`
   * and the partial output is deleted. The abort does not save the time of the run.
   */
  signal?: AbortSignal;
}

const QUANTIZE_KEYS = ['type', 'threads', 'onProgress', 'signal'] as const;

interface ResolvedQuantizeOptions {
  type: QuantizationType;
  threads: number;
  onProgress: ((progress: number) => void) | undefined;
  signal: AbortSignal | undefined;
}

function resolveQuantizeOptions(options: unknown): ResolvedQuantizeOptions {
  const o = optionsObject(options, 'quantize options', QUANTIZE_KEYS);
  return {
    type: typeOption(o.type),
    threads: o.threads === undefined ? defaultThreads() : integerOption('threads', o.threads, { min: 1, max: MAX_THREADS }),
    onProgress: o.onProgress === undefined ? undefined : functionOption<(progress: number) => void>('onProgress', o.onProgress),
    signal: o.signal === undefined ? undefined : signalOption('signal', o.signal),
  };
}

function typeOption(value: unknown): QuantizationType {
  const expected = `one of ${QUANTIZATION_TYPES.map((name) => `"${name}"`).join(', ')}`;
  if (typeof value !== 'string') throw typeError('type', expected, value);
  if (!Object.hasOwn(FTYPES, value)) throw rangeError('type', expected, value);
  return value as QuantizationType;
}

let tempCounter = 0;

/**
 * Quantizes the GGUF model at `input` into a new file at `output`, off the JS thread, with
 * llama.cpp's quantizer (the same choice of per-tensor types as its `llama-quantize` tool).
 *
 * The input's GGUF header is checked in TypeScript first, so a missing or corrupt file is an
 * error, not a crash inside llama.cpp. The result is written next to `output` under a
 * temporary name and renamed into place only when complete, so a failed or aborted run never
 * leaves a partial file at `output` (an existing file there is replaced only on success).
 *
 * @param input - path of an F32/F16/BF16 `.gguf` model
 * @param output - path of the file to write (not `input`)
 * @param options - `type` (required), `threads`, `onProgress`, `signal`; see {@link QuantizeOptions}
 * @throws TypeError / RangeError - (as a rejection) for invalid paths or options, or `output`
 *   naming the same file as `input`
 * @throws LlamaError `ERR_QUANTIZE` (the input is unusable, with `ERR_FILE_NOT_FOUND`,
 *   `ERR_NOT_A_FILE` or `ERR_GGUF_INVALID` as `cause`; the output folder does not exist; or
 *   llama.cpp failed, its error lines in the message), `ERR_ABORTED` (the signal fired)
 */
export async function quantize(input: string, output: string, options: QuantizeOptions): Promise<void> {
  const callerStack = captureCallerStack(quantize);
  nonEmptyString('input', input);
  nonEmptyString('output', output);
  const opts = resolveQuantizeOptions(options);
  if (resolve(output) === resolve(input)) {
    throw argRangeError(invalidMessage('output', 'a path other than input', output, 'argument'));
  }
  const { signal } = opts;
  const aborted = (): LlamaError =>
    withCallerStack(new LlamaError('ERR_ABORTED', `Quantizing "${input}" was aborted`, { cause: signal?.reason }), callerStack);
  const failed = (what: string, cause: unknown): LlamaError =>
    withCallerStack(new LlamaError('ERR_QUANTIZE', `Cannot quantize "${input}": ${what}`, { cause }), callerStack);
  if (signal?.aborted) throw aborted();

  try {
    await readGguf(input);
  } catch (error) {
    throw failed(messageOf(error), error);
  }
  const folder = dirname(resolve(output));
  const folderStat = await stat(folder).catch((error: unknown) => error as Error);
  if (folderStat instanceof Error || !folderStat.isDirectory()) {
    const cause =
      folderStat instanceof Error
        ? new LlamaError('ERR_FILE_NOT_FOUND', `folder '${folder}' does not exist`, { cause: folderStat })
        : new LlamaError('ERR_NOT_A_FILE', `'${folder}' is not a folder`);
    throw failed(`cannot write "${output}": ${cause.message}`, cause);
  }
  if (signal?.aborted) throw aborted();

  const addon = loadAddon();
  const temp = `${output}.tmp-${process.pid}-${++tempCounter}-${randomBytes(3).toString('hex')}`;
  // Progress after an abort would describe work the caller no longer wants.
  const onProgress = opts.onProgress ? guardCallback('onProgress', opts.onProgress) : undefined;
  const report = onProgress
    ? (progress: number): void => {
        if (!signal?.aborted) onProgress(progress);
      }
    : null;
  try {
    await addon.quantize(input, temp, { ftype: FTYPES[opts.type], threads: opts.threads }, report);
    if (signal?.aborted) throw aborted();
    await rename(temp, output);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    if (signal?.aborted) throw aborted();
    if (error instanceof LlamaError) throw withCallerStack(error, callerStack);
    // The addon's ERR_QUANTIZE already says why (llama.cpp's error lines); anything else
    // (e.g. the rename failing) gets wrapped with the input's name.
    const code = (error as { code?: unknown } | null)?.code;
    throw code === 'ERR_QUANTIZE' ? withCallerStack(fromNativeError(error), callerStack) : failed(messageOf(error), error);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
