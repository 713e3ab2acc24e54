/**
 * Options of {@link loadModel}: where a model's tensors go (GPU layers, split, MoE expert
 * placement, overrides) and how the file is read; their defaults and validation.
 */
import type { NativeModelParams } from '../native.js';
import { resolveContextOptions, type ContextOptions } from './context.js';
import { DEFAULT_RPC_TIMEOUT_MS, rpcServersOption, rpcTimeoutOption, type RpcEndpoint } from '../rpc/endpoint.js';
import { argRangeError, booleanOption, enumOption, functionOption, INT32_MAX, integerOption, numberOption, optionsObject, rangeError, signalOption, typeError } from '../validate.js';

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /**
   * How many layers to offload to the GPU: a non-negative integer, `'max'` for all of them, or
   * `'auto'`: as many as fit in the GPUs' free memory, each keeping `autoFit.margin` bytes
   * free, for the context described by `autoFit.context` — measured before loading with
   * {@link estimateMemory} (a few metadata-only simulations). With `'auto'`, a model whose
   * weights, KV cache and compute buffers fit nowhere fails with `ERR_INSUFFICIENT_MEMORY`
   * before anything is allocated. Default `0` (CPU only), so a machine without a GPU backend
   * behaves the same as one with it until the caller opts in. Ignored by CPU-only builds.
   */
  gpuLayers?: number | 'max' | 'auto';
  /** What `gpuLayers: 'auto'` plans for; ignored otherwise. */
  autoFit?: AutoFitOptions;
  /**
   * The GPU (index among the GPU devices llama.cpp uses) that holds the whole model when
   * `splitMode` is `'none'`, and the small intermediate results when it is `'row'`
   * (llama.cpp's `--main-gpu`). An integer `>= 0`. Default: llama.cpp's (`0`).
   */
  mainGpu?: number;
  /**
   * How a model is spread over several GPUs (llama.cpp's `--split-mode`): `'none'` (one GPU,
   * `mainGpu`), `'layer'` (whole layers and their KV cache per GPU) or `'row'` (rows of each
   * weight split across GPUs, where the backend supports it). Default: llama.cpp's (`'layer'`).
   */
  splitMode?: SplitMode;
  /**
   * Share of the offloaded model per GPU, in device order (llama.cpp's `--tensor-split`), e.g.
   * `[3, 1]`: proportions, not percentages. Non-negative finite numbers, at most
   * `llama_max_devices()` (16) of them. Default: by each device's free memory.
   */
  tensorSplit?: readonly number[];
  /**
   * Keep the Mixture-of-Experts expert tensors of **all** layers in host memory while the rest
   * of each offloaded layer goes to the GPU (llama.cpp's `--cpu-moe`). Default `false`.
   * No effect on a dense model or a CPU-only build.
   */
  cpuMoe?: boolean;
  /**
   * Keep the expert tensors of the **first N** layers in host memory (llama.cpp's
   * `--n-cpu-moe N`). An integer `>= 0`; values beyond the layer count mean all layers.
   * Default `0`. Ignored when `cpuMoe` is `true`.
   */
  nCpuMoe?: number;
  /**
   * Place tensors by name (llama.cpp's `--override-tensor`): each tensor goes to the buffer of
   * the first entry whose `pattern` (a regular expression searched in the tensor name, e.g.
   * `'blk\\.[0-9]+\\.ffn_down'`) matches it. `device` is `'cpu'` (host memory) or a device
   * name from {@link listDevices} (case-insensitive), meaning that device's default buffer.
   * Patterns are run by C++ `std::regex` (ECMAScript grammar): no lookbehind or named groups.
   * Applied before `cpuMoe`/`nCpuMoe`, so an explicit entry wins. At most 1024 entries.
   */
  tensorOverrides?: readonly TensorOverride[];
  /**
   * Remote machines running llama.cpp's RPC server ({@link startRpcServer}, `npx llama-napi
   * rpc-server`, or llama.cpp's `rpc-server`), as `'host:port'` (llama.cpp's `--rpc`), at most
   * 16. Their devices come first in the model's device list (as in llama.cpp), named `RPC0`,
   * `RPC1`, … (see {@link listDevices}), and `gpuLayers`, `tensorSplit`, `splitMode`,
   * `tensorOverrides` and `cpuMoe`/`nCpuMoe` place work on them as on local GPUs: offloaded
   * layers go to the remote devices and local GPUs in proportion to `tensorSplit` (default: their
   * free memory). Before llama.cpp connects, each server is reached and greeted with the
   * protocol's handshake within `rpcTimeout`: one that is unreachable, hung or of another
   * protocol version rejects the load with `ERR_RPC` naming it. A server that fails later makes
   * the model unusable (`ERR_RPC`) until it is disposed; other models live on. See
   * docs/distributed.md. Default: none.
   */
  rpcServers?: readonly string[];
  /**
   * Milliseconds one exchange with an RPC server may take (connect, the handshake, and each
   * send or receive, including waiting for a step the server computes) before the server counts
   * as failed: a hung server becomes `ERR_RPC`, not a hung generation. An integer `>= 100`;
   * applies to connections opened from then on in this process. Default `60000`.
   */
  rpcTimeout?: number;
  /**
   * Map the file into memory (`true`) or read it into buffers (`false`). Default: llama.cpp
   * decides (as its own tools do): mmap, unless a device in use cannot work from mapped memory.
   */
  useMmap?: boolean;
  /** Lock the model's memory so the OS cannot swap it out (default `false`; may need privileges). */
  useMlock?: boolean;
  /** Load only the vocabulary (default `false`): enough for tokenize/detokenize; no contexts. */
  vocabOnly?: boolean;
  /**
   * Called with the load progress in `[0, 1]`. A callback that throws is ignored (and reported
   * through {@link setLogger}) so it cannot break the load.
   */
  onProgress?: (progress: number) => void;
  /** Cancels the load: an aborted signal rejects with `ERR_ABORTED` and frees everything loaded. */
  signal?: AbortSignal;
}

/** See {@link LoadModelOptions.autoFit}. */
export interface AutoFitOptions {
  /**
   * The context the offload must leave room for (size, batch sizes, KV cache types), as it
   * will be passed to {@link Model.createContext}. Default: the {@link ContextOptions} defaults.
   */
  context?: ContextOptions;
  /** Bytes to keep free on each GPU, a non-negative integer. Default 1 GiB, as llama.cpp's `--fit`. */
  margin?: number;
}

/** Default {@link AutoFitOptions.margin}: llama.cpp's own per-device fit target. */
export const DEFAULT_FIT_MARGIN = 1024 * 1024 * 1024;

/** How llama.cpp spreads a model over several GPUs; see {@link LoadModelOptions.splitMode}. */
export type SplitMode = 'none' | 'layer' | 'row';

/** One entry of {@link LoadModelOptions.tensorOverrides}. */
export interface TensorOverride {
  /** Regular expression searched in each tensor name (e.g. `blk.3.ffn_up_exps.weight`). */
  pattern: string;
  /** `'cpu'` for host memory, or a device name from {@link listDevices}. */
  device: string;
}

/** {@link LoadModelOptions} after validation, with defaults applied. @internal */
export interface ResolvedLoadModelOptions {
  /** Native convention: -1 = all layers; 'auto' is resolved by loadModel before loading. */
  gpuLayers: number | 'auto';
  /** Validated `autoFit.context` (resolved later, against the model's trained length) and margin. */
  autoFit: { context: unknown; margin: number };
  /** `undefined`: llama.cpp's default. */
  mainGpu: number | undefined;
  splitMode: SplitMode | undefined;
  tensorSplit: number[] | undefined;
  cpuMoe: boolean;
  nCpuMoe: number;
  tensorOverrides: TensorOverride[];
  rpcServers: RpcEndpoint[];
  rpcTimeout: number;
  /** `undefined`: llama.cpp's automatic choice. */
  useMmap: boolean | undefined;
  useMlock: boolean;
  vocabOnly: boolean;
  onProgress: ((progress: number) => void) | undefined;
  signal: AbortSignal | undefined;
}

/** Defaults of {@link LoadModelOptions}. */
export const LOAD_MODEL_DEFAULTS = Object.freeze({
  gpuLayers: 0,
  useMmap: undefined,
  useMlock: false,
  vocabOnly: false,
  cpuMoe: false,
  nCpuMoe: 0,
});

/** Options that say where a model's tensors go; shared by loadModel and estimateMemory. @internal */
export const PLACEMENT_KEYS = [
  'gpuLayers',
  'mainGpu',
  'splitMode',
  'tensorSplit',
  'cpuMoe',
  'nCpuMoe',
  'tensorOverrides',
  'rpcServers',
  'rpcTimeout',
] as const;

const LOAD_MODEL_KEYS = [...PLACEMENT_KEYS, 'autoFit', 'useMmap', 'useMlock', 'vocabOnly', 'onProgress', 'signal'] as const;

/** llama.cpp's `llama_max_devices()`: the length of its tensor-split array. */
export const MAX_DEVICES = 16;
/** Most {@link LoadModelOptions.tensorOverrides} entries (llama.cpp allows 4096 overrides in all). */
export const MAX_TENSOR_OVERRIDES = 1024;

/** llama.cpp's `LLM_FFN_EXPS_REGEX` (common/common.h): the expert tensors of a MoE layer. */
export const EXPERT_TENSORS_PATTERN = '\\.ffn_(up|down|gate|gate_up)_(ch|)exps';

/**
 * Validates {@link LoadModelOptions} and applies defaults. @internal
 * @param deviceNames - the device names `tensorOverrides` may name (besides `'cpu'`); omitted: not checked here
 */
export function resolveLoadModelOptions(options: unknown, deviceNames?: () => readonly string[]): ResolvedLoadModelOptions {
  const o = optionsObject(options, 'loadModel options', LOAD_MODEL_KEYS);
  const rpcServers = o.rpcServers === undefined ? [] : rpcServersOption(o.rpcServers);
  return {
    gpuLayers: o.gpuLayers === undefined ? LOAD_MODEL_DEFAULTS.gpuLayers : gpuLayersOption(o.gpuLayers),
    autoFit: autoFitOption(o.autoFit),
    mainGpu: o.mainGpu === undefined ? undefined : integerOption('mainGpu', o.mainGpu, { min: 0, max: MAX_DEVICES - 1 }),
    splitMode: o.splitMode === undefined ? undefined : enumOption('splitMode', o.splitMode, SPLIT_MODES),
    tensorSplit: o.tensorSplit === undefined ? undefined : tensorSplitOption(o.tensorSplit),
    cpuMoe: o.cpuMoe === undefined ? LOAD_MODEL_DEFAULTS.cpuMoe : booleanOption('cpuMoe', o.cpuMoe),
    nCpuMoe: o.nCpuMoe === undefined ? LOAD_MODEL_DEFAULTS.nCpuMoe : integerOption('nCpuMoe', o.nCpuMoe, { min: 0, max: INT32_MAX }),
    tensorOverrides: o.tensorOverrides === undefined ? [] : tensorOverridesOption(o.tensorOverrides, deviceNames, rpcServers.length > 0),
    rpcServers,
    rpcTimeout: o.rpcTimeout === undefined ? DEFAULT_RPC_TIMEOUT_MS : rpcTimeoutOption(o.rpcTimeout),
    useMmap: o.useMmap === undefined ? LOAD_MODEL_DEFAULTS.useMmap : booleanOption('useMmap', o.useMmap),
    useMlock: o.useMlock === undefined ? LOAD_MODEL_DEFAULTS.useMlock : booleanOption('useMlock', o.useMlock),
    vocabOnly: o.vocabOnly === undefined ? LOAD_MODEL_DEFAULTS.vocabOnly : booleanOption('vocabOnly', o.vocabOnly),
    onProgress: o.onProgress === undefined ? undefined : functionOption<(progress: number) => void>('onProgress', o.onProgress),
    signal: o.signal === undefined ? undefined : signalOption('signal', o.signal),
  };
}

const SPLIT_MODES = ['none', 'layer', 'row'] as const;
/** llama_split_mode numbers. @internal */
export const SPLIT_MODE_NUMBERS = { none: 0, layer: 1, row: 2 } as const;

function tensorSplitOption(value: unknown): number[] {
  const expected = `an array of at most ${MAX_DEVICES} non-negative finite numbers`;
  if (!Array.isArray(value)) throw typeError('tensorSplit', expected, value);
  if (value.length > MAX_DEVICES) {
    throw argRangeError(`Invalid option "tensorSplit": expected ${expected}, got ${value.length} numbers`);
  }
  return value.map((item: unknown, index) => numberOption(`tensorSplit[${index}]`, item, { min: 0 }));
}

function tensorOverridesOption(value: unknown, deviceNames: (() => readonly string[]) | undefined, rpc: boolean): TensorOverride[] {
  const expected = `an array of at most ${MAX_TENSOR_OVERRIDES} { pattern, device } objects`;
  if (!Array.isArray(value)) throw typeError('tensorOverrides', expected, value);
  if (value.length > MAX_TENSOR_OVERRIDES) {
    throw argRangeError(`Invalid option "tensorOverrides": expected ${expected}, got ${value.length} entries`);
  }
  let known: string[] | undefined;
  return value.map((item: unknown, index) => {
    const name = `tensorOverrides[${index}]`;
    const entry = optionsObject(item, `${name} entry`, ['pattern', 'device']);
    if (item === undefined) throw typeError(name, 'a { pattern, device } object', item);
    const pattern = entry.pattern;
    if (typeof pattern !== 'string') throw typeError(`${name}.pattern`, 'a regular expression string', pattern);
    if (pattern.length === 0) throw rangeError(`${name}.pattern`, 'a non-empty regular expression string', pattern);
    try {
      new RegExp(pattern);
    } catch (error) {
      throw rangeError(`${name}.pattern`, `a valid regular expression (${(error as Error).message})`, pattern);
    }
    // JS accepts both, C++ std::regex (which llama.cpp runs) rejects them.
    if (pattern.includes('(?<')) {
      throw rangeError(`${name}.pattern`, 'a std::regex ECMAScript pattern (no lookbehind, no named groups)', pattern);
    }
    const device = entry.device;
    if (typeof device !== 'string') throw typeError(`${name}.device`, '"cpu" or a device name from listDevices()', device);
    // RPC devices (RPC0, RPC1, …) exist only once their servers are registered, during the load;
    // the addon checks those names then.
    if (device.toLowerCase() !== 'cpu' && deviceNames && !(rpc && /^rpc[0-9]+$/i.test(device))) {
      known ??= deviceNames().map((n) => n.toLowerCase());
      if (!known.includes(device.toLowerCase())) {
        throw rangeError(`${name}.device`, `"cpu" or a device name from listDevices() (${known.join(', ')})`, device);
      }
    }
    return { pattern, device };
  });
}

/**
 * The override list a load hands to llama.cpp: the caller's entries first (first match wins),
 * then `cpuMoe` (all layers' experts to the host) or `nCpuMoe` (layers `0 … N-1`), written as
 * llama.cpp's `--cpu-moe` / `--n-cpu-moe` write them. @internal
 *
 * @param layerCount - the model's block count, to bound `nCpuMoe` (undefined: unknown)
 */
export function placementOverrides(o: ResolvedLoadModelOptions, layerCount: number | undefined): TensorOverride[] {
  const out = [...o.tensorOverrides];
  if (o.cpuMoe) {
    out.push({ pattern: EXPERT_TENSORS_PATTERN, device: 'cpu' });
  } else if (o.nCpuMoe > 0) {
    const layers = Math.min(o.nCpuMoe, layerCount ?? o.nCpuMoe, 4096 - out.length - 1);
    if (layers >= (layerCount ?? Infinity)) out.push({ pattern: EXPERT_TENSORS_PATTERN, device: 'cpu' });
    else for (let i = 0; i < layers; i++) out.push({ pattern: `blk\\.${i}${EXPERT_TENSORS_PATTERN}`, device: 'cpu' });
  }
  return out;
}

function gpuLayersOption(value: unknown): number | 'auto' {
  if (value === 'max') return -1;
  if (value === 'auto') return 'auto';
  const expected = `an integer in [0, ${INT32_MAX}], "max" or "auto"`;
  if (typeof value !== 'number' || Number.isNaN(value)) throw typeError('gpuLayers', expected, value);
  return integerOption('gpuLayers', value, { min: 0, max: INT32_MAX }, ', "max" or "auto"');
}

function autoFitOption(value: unknown): { context: unknown; margin: number } {
  const o = optionsObject(value, 'autoFit options', ['context', 'margin']);
  if (o.context !== undefined) resolveContextOptions(o.context, INT32_MAX); // types and keys now; bounds at load
  return {
    context: o.context,
    margin: o.margin === undefined ? DEFAULT_FIT_MARGIN : integerOption('autoFit.margin', o.margin, { min: 0, max: Number.MAX_SAFE_INTEGER }),
  };
}

/**
 * The parameters the addon loads a model with (or simulates loading it, for an estimate): the
 * one place that turns resolved load options into llama_model_params. @internal
 *
 * @param gpuLayers - the layer count to offload (-1: all), `'auto'` already resolved
 * @param layerCount - the model's block count from the GGUF header, to bound `nCpuMoe`
 */
export function nativeModelParams(o: ResolvedLoadModelOptions, gpuLayers: number, layerCount: number | undefined): NativeModelParams {
  return {
    gpuLayers,
    useMmap: o.useMmap,
    useMlock: o.useMlock,
    vocabOnly: o.vocabOnly,
    mainGpu: o.mainGpu,
    splitMode: o.splitMode === undefined ? undefined : SPLIT_MODE_NUMBERS[o.splitMode],
    tensorSplit: o.tensorSplit,
    // A vocabulary-only load places no tensors.
    tensorOverrides: o.vocabOnly ? [] : placementOverrides(o, layerCount),
    ...(o.rpcServers.length > 0 ? { rpcServers: o.rpcServers.map((e) => e.text) } : {}),
  };
}
