/**
 * From parsed flags to the library's option objects: loadModel, createContext and generate.
 *
 * Values are checked here only as far as the command line needs (a number where a number
 * belongs, a known choice); ranges are the library's business, and its RangeErrors become
 * usage errors in main.ts. Flags the user did not give are left out, so the library's
 * defaults (llama.cpp's) apply and are documented in one place.
 */
import { readFile } from 'node:fs/promises';
import type { ContextOptions, FlashAttention, GenerateOptions, KvCacheType, LoadModelOptions, SplitMode, TensorOverride } from '../index.js';
import type { ParsedArgs } from './args.js';
import { CliFailure, UsageError } from './exit-codes.js';

/** A model card's recommended sampling, chosen with `--preset NAME`; never applied unasked. */
export const SAMPLING_PRESETS: Readonly<Record<string, Readonly<GenerateOptions>>> = Object.freeze({
  /** Mixtral-8x7B-Instruct-v0.1's card: `--temp 0.7 --repeat_penalty 1.1`. */
  mixtral: Object.freeze({ temperature: 0.7, repeatPenalty: 1.1 }),
});

/** Reads flag values with messages that name the flag as the user spelled it. */
export class FlagValues {
  readonly #args: ParsedArgs;
  readonly #command: string;

  constructor(args: ParsedArgs, command: string) {
    this.#args = args;
    this.#command = command;
  }

  /** Whether the flag was given. */
  has(key: string): boolean {
    return this.#args.flags[key] !== undefined;
  }

  /** The value as given (a switch reads as `undefined`). */
  string(key: string): string | undefined {
    const v = this.#args.flags[key];
    return typeof v === 'string' ? v : Array.isArray(v) ? v.at(-1) : undefined;
  }

  /** Every value of a repeatable flag. */
  list(key: string): string[] {
    const v = this.#args.flags[key];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  /** Whether a switch was given. */
  flag(key: string): boolean {
    return this.#args.flags[key] !== undefined;
  }

  integer(key: string): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    if (!/^[+-]?\d+$/.test(v.trim())) throw this.invalid(key, 'an integer', v);
    return Number(v);
  }

  number(key: string): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw this.invalid(key, 'a number', v);
    return n;
  }

  choice<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    if (!(choices as readonly string[]).includes(v)) throw this.invalid(key, `one of ${choices.join(', ')}`, v);
    return v as T;
  }

  /** The flag as the user typed it (`--repeat_penalty`), for messages. */
  spelling(key: string): string {
    return this.#args.spelled[key] ?? key;
  }

  /** A usage error about this flag's value. */
  invalid(key: string, expected: string, got: string): UsageError {
    return new UsageError(`${this.spelling(key)} expects ${expected}, got "${got}"`, this.#command);
  }
}

/** `-ngl`: a layer count, `max`/`all`, or `auto`. */
export function gpuLayersOption(f: FlagValues): LoadModelOptions['gpuLayers'] {
  const v = f.string('gpuLayers');
  if (v === undefined) return undefined;
  if (v === 'max' || v === 'all') return 'max';
  if (v === 'auto') return 'auto';
  const n = f.integer('gpuLayers')!;
  // llama.cpp's -ngl -1 also means "all layers".
  return n === -1 ? 'max' : n;
}

/** `-ot 'exps=CPU,^output\.=CUDA0'` (repeatable) → tensor overrides, in the order given. */
export function tensorOverridesOption(f: FlagValues): TensorOverride[] | undefined {
  const entries = f.list('overrideTensor').flatMap((v) => v.split(','));
  if (entries.length === 0) return undefined;
  return entries.map((entry) => {
    const eq = entry.lastIndexOf('=');
    if (eq <= 0 || eq === entry.length - 1) throw f.invalid('overrideTensor', 'PATTERN=DEVICE[,PATTERN=DEVICE…]', entry);
    return { pattern: entry.slice(0, eq), device: entry.slice(eq + 1) };
  });
}

/** Placement and file options shared by `run` and `estimate`. */
export function placementOptions(f: FlagValues): LoadModelOptions {
  const o: LoadModelOptions = {};
  const gpuLayers = gpuLayersOption(f);
  if (gpuLayers !== undefined) o.gpuLayers = gpuLayers;
  if (f.flag('cpuMoe')) o.cpuMoe = true;
  const nCpuMoe = f.integer('nCpuMoe');
  if (nCpuMoe !== undefined) o.nCpuMoe = nCpuMoe;
  const overrides = tensorOverridesOption(f);
  if (overrides) o.tensorOverrides = overrides;
  const splitMode = f.choice<SplitMode>('splitMode', ['none', 'layer', 'row']);
  if (splitMode) o.splitMode = splitMode;
  const mainGpu = f.integer('mainGpu');
  if (mainGpu !== undefined) o.mainGpu = mainGpu;
  const split = f.string('tensorSplit');
  if (split !== undefined) {
    o.tensorSplit = split.split(/[,/]/).map((part) => {
      const n = Number(part);
      if (part.trim() === '' || !Number.isFinite(n)) throw f.invalid('tensorSplit', 'numbers separated by commas', split);
      return n;
    });
  }
  const rpc = f.string('rpc');
  if (rpc !== undefined) o.rpcServers = rpc.split(',').map((server) => server.trim());
  if (f.flag('noMmap')) o.useMmap = false;
  if (f.flag('mlock')) o.useMlock = true;
  return o;
}

/**
 * Context options. `-c 0` is llama.cpp's "the model's trained length", so the caller passes
 * that length (read from the file's metadata before loading).
 */
export function contextOptions(f: FlagValues, trainedContextLength: number): ContextOptions {
  const o: ContextOptions = {};
  const ctx = f.integer('ctxSize');
  if (ctx !== undefined) o.contextSize = ctx === 0 ? trainedContextLength : ctx;
  const batch = f.integer('batchSize');
  if (batch !== undefined) o.batchSize = batch;
  const ubatch = f.integer('ubatchSize');
  if (ubatch !== undefined) o.ubatchSize = ubatch;
  const threads = f.integer('threads');
  if (threads !== undefined) o.threads = threads;
  const threadsBatch = f.integer('threadsBatch');
  if (threadsBatch !== undefined) o.threadsBatch = threadsBatch;
  const fa = f.choice<FlashAttention>('flashAttn', ['on', 'off', 'auto']);
  if (fa) o.flashAttention = fa;
  const kvTypes = ['f16', 'q8_0', 'q4_0'] as const;
  const k = f.choice<KvCacheType>('cacheTypeK', kvTypes);
  if (k) o.kvCacheTypeK = k;
  const v = f.choice<KvCacheType>('cacheTypeV', kvTypes);
  if (v) o.kvCacheTypeV = v;
  return o;
}

/** Sampling, length and constraints: the preset first, then the flags given (which win). */
export async function generateOptions(f: FlagValues): Promise<GenerateOptions> {
  const presetName = f.string('preset');
  let o: GenerateOptions = {};
  if (presetName !== undefined) {
    const preset = SAMPLING_PRESETS[presetName];
    if (!preset) throw f.invalid('preset', `one of ${Object.keys(SAMPLING_PRESETS).join(', ')}`, presetName);
    o = { ...preset };
  }
  const set = <K extends keyof GenerateOptions>(key: K, value: GenerateOptions[K] | undefined): void => {
    if (value !== undefined) o[key] = value;
  };
  set('maxTokens', f.integer('nPredict'));
  set('temperature', f.number('temp'));
  set('topK', f.integer('topK'));
  set('topP', f.number('topP'));
  set('minP', f.number('minP'));
  set('repeatPenalty', f.number('repeatPenalty'));
  set('repeatLastN', f.integer('repeatLastN'));
  const seed = f.integer('seed');
  // llama.cpp's -s -1 (its LLAMA_DEFAULT_SEED) asks for a random seed: the library's default.
  if (seed !== undefined && seed !== -1) o.seed = seed;
  const stops = f.list('reversePrompt');
  if (stops.length > 0) o.stop = stops;
  if (f.has('grammar') && f.has('grammarFile')) throw new UsageError('--grammar and --grammar-file cannot be used together', 'run');
  set('grammar', f.string('grammar') ?? (f.has('grammarFile') ? await readText(f, 'grammarFile') : undefined));
  const schema = f.string('jsonSchema');
  if (schema !== undefined) {
    try {
      o.jsonSchema = JSON.parse(schema) as GenerateOptions['jsonSchema'];
    } catch {
      throw f.invalid('jsonSchema', 'a JSON schema (JSON text)', schema);
    }
  }
  return o;
}

/** The contents of the file a flag names; a failure names the flag, the file and why. */
export async function readText(f: FlagValues, key: string): Promise<string> {
  const path = f.string(key)!;
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CliFailure(`${f.spelling(key)} ${path}: cannot read the file (${why})`);
  }
}
