/**
 * {@link estimateMemory}: what a load and one context would take, per device, before loading.
 */
import { loadAddon } from './addon.js';
import { listDevices } from './devices.js';
import { LlamaError, callNative, captureCallerStack, withCallerStack } from './errors.js';
import { readGguf, type GgufFile } from './gguf/index.js';
import { hostMemory } from './memory-limits.js';
import { checkModelConsistency } from './model-consistency.js';
import type { NativeMemoryUsage } from './native.js';
import { resolveContextOptions, type ContextOptions, type ResolvedContextOptions } from './options/context.js';
import {
  PLACEMENT_KEYS,
  nativeModelParams,
  resolveLoadModelOptions,
  type LoadModelOptions,
  type ResolvedLoadModelOptions,
} from './options/load.js';
import { connectRpcServers } from './rpc/client.js';
import { booleanOption, nonEmptyString, optionsObject, rangeError } from './validate.js';

/** Options of {@link estimateMemory}: the placement of {@link loadModel} plus the context to plan. */
export interface EstimateMemoryOptions
  extends Pick<
    LoadModelOptions,
    | 'gpuLayers'
    | 'mainGpu'
    | 'splitMode'
    | 'tensorSplit'
    | 'cpuMoe'
    | 'nCpuMoe'
    | 'tensorOverrides'
    | 'rpcServers'
    | 'rpcTimeout'
    | 'useMmap'
    | 'useMlock'
  > {
  /** The context to plan for (its size, batch sizes, KV cache types). Default: {@link ContextOptions} defaults. */
  context?: ContextOptions;
  /**
   * Reject with `ERR_INSUFFICIENT_MEMORY` when the estimate does not fit (`fits: false`),
   * instead of resolving. Default `false`.
   */
  failIfInsufficient?: boolean;
}

/** Bytes one device (or the host) would hold, and what it has free now. */
export interface MemoryUsage {
  /** Device name (as {@link listDevices}), `"CPU"` for the host. */
  readonly name: string;
  /** Model weights placed there. */
  readonly weights: number;
  /** The KV cache (and other per-context state). */
  readonly kvCache: number;
  /** Compute buffers (intermediate results of the largest graph). */
  readonly compute: number;
  /** `weights + kvCache + compute`. */
  readonly total: number;
  /**
   * Free memory of the device now. For the host: what this process can still get, the smallest
   * of the machine's available memory, its cgroup's limit and its address-space limit on Linux
   * (ggml itself reports the host's total memory there); `os.freemem()` on Windows, the
   * physical memory on macOS.
   */
  readonly free: number;
  /** Total memory of the device. */
  readonly memoryTotal: number;
}

/** Result of {@link estimateMemory}. All numbers are bytes. */
export interface MemoryEstimate {
  /** Each device the model would use besides the host, in llama.cpp's order (empty when nothing is offloaded). */
  readonly devices: readonly MemoryUsage[];
  /** Host memory: CPU weights, KV cache and compute buffers, and host-pinned buffers of GPU backends. */
  readonly host: MemoryUsage;
  /**
   * Whether every device's `total` is within its `free` memory, and the host's too. Host weights
   * of a memory-mapped file (the default, `useMmap` not `false` and no `useMlock`) are not counted
   * against free host memory: the OS pages them in and out as needed.
   */
  readonly fits: boolean;
}

const ESTIMATE_KEYS = [...PLACEMENT_KEYS, 'useMmap', 'useMlock', 'context', 'failIfInsufficient'] as const;

/**
 * Says, before loading, how much device and host memory a model and one context would take:
 * llama.cpp reads the file's metadata only and simulates every allocation
 * (`llama_model_params.no_alloc`), with the same placement rules as a real load. Runs off the
 * JS thread; reads no weights.
 *
 * @param path - path of a `.gguf` file
 * @param options - placement and context, see {@link EstimateMemoryOptions}
 * @throws TypeError / RangeError - (as a rejection) for invalid options
 * @throws LlamaError `ERR_MODEL_LOAD` (unusable file), `ERR_CONTEXT_CREATE` (llama.cpp cannot
 *   plan that context), `ERR_INSUFFICIENT_MEMORY` (with `failIfInsufficient`, when it does not fit),
 *   `ERR_OUT_OF_MEMORY` (even the simulation ran out of memory: llama.cpp's per-cell bookkeeping
 *   of a huge context is real host memory)
 */
export async function estimateMemory(path: string, options?: EstimateMemoryOptions): Promise<MemoryEstimate> {
  const callerStack = captureCallerStack(estimateMemory);
  nonEmptyString('path', path);
  const { context, failIfInsufficient, ...loadOptions } = optionsObject(options, 'estimateMemory options', ESTIMATE_KEYS);
  const fail = failIfInsufficient === undefined ? false : booleanOption('failIfInsufficient', failIfInsufficient);
  const opts = resolveLoadModelOptions(loadOptions, () => listDevices().map((d) => d.name));
  if (opts.gpuLayers === 'auto') {
    throw rangeError('gpuLayers', 'an integer or "max" (an estimate is for a fixed layer count)', 'auto');
  }

  let gguf: GgufFile;
  try {
    gguf = await readGguf(path);
    checkModelConsistency({ first: gguf, parts: [gguf] }, opts);
  } catch (error) {
    throw withCallerStack(
      new LlamaError('ERR_MODEL_LOAD', `Cannot read model "${path}": ${(error as Error).message}`, { cause: error }),
      callerStack,
    );
  }
  const shape = modelShape(gguf);
  const contextParams = resolveContextOptions(context, shape.trainedContextLength);
  const result = await simulate(path, opts, contextParams, shape.layerCount).catch((error: unknown) => {
    throw withCallerStack(error as Error, callerStack);
  });
  if (fail && !result.fits) throw withCallerStack(insufficient(path, result, opts), callerStack);
  return result;
}

/** The model shape the estimate needs from the GGUF header. @internal */
export function modelShape(gguf: GgufFile): { layerCount: number | undefined; trainedContextLength: number } {
  const arch = gguf.metadata['general.architecture'];
  const archName = arch?.type === 'string' ? arch.value : '';
  const numberKey = (key: string): number | undefined => {
    const v = gguf.metadata[`${archName}.${key}`];
    return v && typeof v.value === 'number' ? v.value : undefined;
  };
  return { layerCount: numberKey('block_count'), trainedContextLength: numberKey('context_length') ?? 0 };
}

/**
 * Asks llama.cpp to simulate the load and the context (nothing allocated). The host's `free` is
 * `hostMemory()`'s: ggml reports the host's total memory as free on Linux.
 * @internal
 */
export async function simulate(
  path: string,
  opts: ResolvedLoadModelOptions,
  contextParams: ResolvedContextOptions,
  layerCount: number | undefined,
  gpuLayers: number = opts.gpuLayers === 'auto' ? 0 : opts.gpuLayers,
): Promise<MemoryEstimate> {
  if (opts.rpcServers.length > 0) await connectRpcServers(opts.rpcServers, opts.rpcTimeout);
  const estimate = await callNative(() =>
    loadAddon().estimateMemory(path, nativeModelParams(opts, gpuLayers, layerCount), { ...contextParams }),
  );
  const usage = (u: NativeMemoryUsage): MemoryUsage => Object.freeze({ ...u, total: u.weights + u.kvCache + u.compute });
  const devices = Object.freeze(estimate.devices.map(usage));
  const host = usage({ ...estimate.host, free: hostMemory().available });
  const need = hostNeed(host, opts);
  const fits = devices.every((d) => d.total <= d.free) && need <= host.free;
  return Object.freeze({ devices, host, fits });
}

/** Host bytes that must be free: mapped weights are the page cache's business. */
function hostNeed(host: MemoryUsage, opts: ResolvedLoadModelOptions): number {
  const mapped = opts.useMmap !== false && !opts.useMlock;
  return host.total - (mapped ? host.weights : 0);
}

function insufficient(path: string, e: MemoryEstimate, opts: ResolvedLoadModelOptions, margin = 0): LlamaError {
  const mib = (n: number): string => `${Math.ceil(n / 2 ** 20)} MiB`;
  const short = e.devices
    .filter((d) => d.total + margin > d.free)
    .map((d) => `${d.name} needs ${mib(d.total)}${margin ? ` + ${mib(margin)} margin` : ''}, has ${mib(d.free)} free`);
  const need = hostNeed(e.host, opts);
  if (need > e.host.free) short.push(`${e.host.name} (host) needs ${mib(need)}, has ${mib(e.host.free)} free`);
  return new LlamaError('ERR_INSUFFICIENT_MEMORY', `Model "${path}" does not fit: ${short.join('; ')}`);
}

/**
 * Resolves `gpuLayers: 'auto'`: the most layers whose device buffers (weights, KV cache,
 * compute) leave `margin` bytes free on every GPU, found by bisection over simulated loads;
 * `-1` (all) when everything fits. Throws `ERR_INSUFFICIENT_MEMORY` when not even the
 * CPU-side placement fits. A build or machine without GPUs gets 0. @internal
 */
export async function fitGpuLayers(
  path: string,
  opts: ResolvedLoadModelOptions,
  shape: { layerCount: number | undefined; trainedContextLength: number },
): Promise<number> {
  const contextParams = resolveContextOptions(opts.autoFit.context, shape.trainedContextLength);
  const margin = opts.autoFit.margin;
  const devicesFit = (e: MemoryEstimate): boolean => e.devices.every((d) => d.total + margin <= d.free);
  const hostFits = (e: MemoryEstimate): boolean => hostNeed(e.host, opts) <= e.host.free;
  const hasGpu = listDevices().some((d) => d.type === 'gpu' || d.type === 'igpu');
  const all = await simulate(path, opts, contextParams, shape.layerCount, hasGpu ? -1 : 0);
  if (devicesFit(all) && hostFits(all)) return hasGpu ? -1 : 0;
  if (!hasGpu) throw insufficient(path, all, opts, margin);
  // Device use grows with the layer count, host use shrinks: find the most layers the GPUs take.
  let low = 0; // fits (0 layers puts nothing but compute buffers on the GPUs)
  let high = (shape.layerCount ?? 0) + 1; // all layers plus the output layer: did not fit
  let best = await simulate(path, opts, contextParams, shape.layerCount, 0);
  if (!devicesFit(best) || !hostFits(best)) throw insufficient(path, best, opts, margin);
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    const e = await simulate(path, opts, contextParams, shape.layerCount, mid);
    if (devicesFit(e)) [low, best] = [mid, e];
    else high = mid;
  }
  if (!hostFits(best)) throw insufficient(path, best, opts, margin);
  return low;
}
