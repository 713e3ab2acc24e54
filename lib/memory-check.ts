/**
 * The memory pre-checks of {@link loadModel} and {@link Model.createContext}: refuse with
 * `ERR_OUT_OF_MEMORY` what would not fit before llama.cpp allocates it (an allocation the
 * kernel grants and then cannot back ends in the OOM killer, not in an error), and turn
 * llama.cpp's own allocation failures into the same error with the numbers.
 *
 * Cost: the accurate answer is llama.cpp's simulated load and context (`simulate`, ~80 ms for a
 * 32,000-token vocabulary, more for larger ones), while creating a small context takes ~3 ms.
 * So a quick closed-form bound screens first, and the simulation runs only when
 * `SCREEN_FACTOR ×` that bound does not fit comfortably.
 */
import { listDevices, type Device } from './devices.js';
import { isLlamaError } from './errors.js';
import { simulate, type MemoryEstimate } from './estimate.js';
import {
  ADVICE,
  MEMORY_MARGIN,
  addressSpaceHeadroom,
  hostMemory,
  outOfMemory,
  type HostMemory,
  type OutOfMemoryError,
} from './memory-limits.js';
import type { ModelFiles } from './model-files.js';
import type { ModelInfo } from './model-info.js';
import { resolveContextOptions, type KvCacheType, type ResolvedContextOptions } from './options/context.js';
import type { ResolvedLoadModelOptions } from './options/load.js';

/** How a model was (or will be) loaded: what a simulated load needs. @internal */
export interface LoadPlan {
  readonly path: string;
  readonly opts: ResolvedLoadModelOptions;
  /** Resolved: -1 all, else a count ('auto' already fitted). */
  readonly gpuLayers: number;
  readonly layerCount: number | undefined;
}

/**
 * The screen: a quick bound times this must fit (with the margin) for the simulation to be
 * skipped. The closed-form bound is close for a plain transformer (KV cache exact, compute
 * buffers over-counted); the factor covers architectures whose caches it describes less well.
 */
const SCREEN_FACTOR = 4;

/** Test hooks: turn the pre-checks off (to reach llama.cpp's own failures) or fake the host. @internal */
export const memoryCheckHooks: { enabled: boolean; hostMemory: () => HostMemory } = {
  enabled: true,
  hostMemory: () => hostMemory(),
};

const BYTES_PER_ELEMENT: Record<KvCacheType, number> = { f16: 2, q8_0: 34 / 32, q4_0: 18 / 32 };

/**
 * Host bytes llama.cpp keeps per KV cell besides the cache itself (`llama_kv_cells`), which its
 * memory breakdown does not count: position, shift and a bitset of 256 sequences at creation
 * (48 bytes), and once the cell is used a node in the set of used cells and in its sequence's
 * set of positions (~96 more). 576 MiB for a full 4M-token context.
 */
const KV_CELL_BOOKKEEPING = 144;

/** KV cells llama.cpp allocates for a context (it pads the size to 256). */
function kvCells(p: ResolvedContextOptions): number {
  return Math.ceil(p.contextSize / 256) * 256;
}

/** `simulate`, or `undefined` when even the plan ran out of memory (its bookkeeping is host memory too). */
async function simulated(...args: Parameters<typeof simulate>): Promise<MemoryEstimate | undefined> {
  try {
    return await simulate(...args);
  } catch (error) {
    if (isLlamaError(error, 'ERR_OUT_OF_MEMORY')) return undefined;
    throw error;
  }
}

function gpus(): Device[] {
  return listDevices().filter((d) => d.type === 'gpu' || d.type === 'igpu');
}

function offloads(plan: LoadPlan): boolean {
  return plan.gpuLayers !== 0 && !plan.opts.vocabOnly && gpus().length > 0;
}

/**
 * A quick upper-ish bound of the bytes a context takes (KV cache + output + compute buffers),
 * from the model's shape: exact for a standard attention KV cache, generous for the rest.
 * @internal
 */
export function quickContextBytes(info: ModelInfo, p: ResolvedContextOptions): number {
  const meta = (key: string): number | undefined => {
    const value = Number(info.metadata[`${info.architecture}.${key}`]);
    return Number.isFinite(value) && value > 0 ? value : undefined;
  };
  const headCount = Math.max(1, info.headCount);
  const headK = meta('attention.key_length') ?? info.embeddingLength / headCount;
  const headV = meta('attention.value_length') ?? headK;
  const cells = kvCells(p);
  const perCell = info.headCountKv * (headK * BYTES_PER_ELEMENT[p.kvCacheTypeK] + headV * BYTES_PER_ELEMENT[p.kvCacheTypeV]);
  const kv = info.layerCount * cells * perCell;
  const outputs = 4 * p.batchSize * Math.max(info.vocabularySize, info.embeddingLength);
  const activations = 4 * p.ubatchSize * (info.vocabularySize + 16 * info.embeddingLength);
  const attention = 4 * cells * p.ubatchSize * headCount; // the KQ matrix without flash attention
  return kv + cells * KV_CELL_BOOKKEEPING + outputs + activations + attention;
}

/** The host's and each used device's room, with the margin taken off. */
function room(plan: LoadPlan | undefined): { host: HostMemory; smallest: number } {
  const host = memoryCheckHooks.hostMemory();
  let smallest = host.available;
  if (plan && offloads(plan)) for (const d of gpus()) smallest = Math.min(smallest, d.memoryFree);
  return { host, smallest: smallest - MEMORY_MARGIN };
}

/**
 * Refuses a context that would not fit: `ERR_OUT_OF_MEMORY` before anything is allocated.
 * @returns the bytes it needs by the best estimate made (for an allocation failure's error)
 * @internal
 */
export async function checkContextMemory(plan: LoadPlan, info: ModelInfo, p: ResolvedContextOptions, what: string): Promise<number> {
  const quick = quickContextBytes(info, p);
  if (!memoryCheckHooks.enabled) return quick;
  const { host, smallest } = room(plan);
  if (quick * SCREEN_FACTOR <= smallest) return quick;
  const e = await simulated(plan.path, plan.opts, p, plan.layerCount, plan.gpuLayers);
  if (e === undefined) throw outOfMemory(what, { needed: quick, ...host, device: 'host' }, ADVICE.context);
  for (const d of e.devices) {
    const needed = d.kvCache + d.compute;
    if (needed + MEMORY_MARGIN > d.free) {
      throw outOfMemory(what, { needed, available: d.free, device: d.name, limitedBy: 'device' }, ADVICE.context);
    }
  }
  const needed = e.host.kvCache + e.host.compute + kvCells(p) * KV_CELL_BOOKKEEPING;
  if (needed + MEMORY_MARGIN > host.available) throw outOfMemory(what, { needed, ...host, device: 'host' }, ADVICE.context);
  return needed + e.devices.reduce((n, d) => n + d.kvCache + d.compute, 0);
}

/** Bytes of tensor data in the model's files (what resident weights take on the host). */
function tensorBytes(files: ModelFiles): number {
  return files.parts.reduce((n, part) => n + part.fileSize - part.dataOffset, 0);
}

/**
 * Refuses a load whose weights would not fit: resident host weights (`useMmap: false`, or
 * `useMlock`), weights offloaded to a GPU (an explicit `gpuLayers`), and a mapping larger than
 * the address space left under `RLIMIT_AS`. A default CPU-only memory-mapped load checks only
 * the last (no simulation): the page cache holds mapped weights. `gpuLayers: 'auto'` has
 * already been fitted (`ERR_INSUFFICIENT_MEMORY`).
 * @returns the host bytes the weights need (for an allocation failure's error)
 * @internal
 */
export async function checkLoadMemory(plan: LoadPlan, files: ModelFiles, auto: boolean): Promise<number> {
  const what = `Model "${plan.path}"`;
  const bytes = tensorBytes(files);
  const resident = plan.opts.useMmap === false || plan.opts.useMlock;
  if (!memoryCheckHooks.enabled || plan.opts.vocabOnly) return bytes;
  if (!resident) {
    const addressSpace = addressSpaceHeadroom();
    if (addressSpace !== undefined && files.fileSize + MEMORY_MARGIN > addressSpace) {
      const shortage = { needed: files.fileSize, available: addressSpace, device: 'host', limitedBy: 'RLIMIT_AS' } as const;
      throw outOfMemory(`${what} (memory-mapped)`, shortage, ADVICE.load);
    }
  }
  if (auto || (!resident && !offloads(plan))) return bytes;
  const { host, smallest } = room(plan);
  if (!offloads(plan) && bytes * SCREEN_FACTOR <= smallest) return bytes;
  // The smallest context: only the weights matter here.
  const trained = Number(files.first.metadata[`${archOf(files)}.context_length`]?.value) || 0;
  const context = resolveContextOptions({ contextSize: Math.min(256, trained || 256), threads: 1 }, trained);
  const e = await simulated(plan.path, plan.opts, context, plan.layerCount, plan.gpuLayers);
  if (e === undefined) throw outOfMemory(what, { needed: bytes, ...host, device: 'host' }, ADVICE.load);
  for (const d of e.devices) {
    if (d.weights + MEMORY_MARGIN > d.free) {
      throw outOfMemory(what, { needed: d.weights, available: d.free, device: d.name, limitedBy: 'device' }, ADVICE.load);
    }
  }
  if (resident && e.host.weights + MEMORY_MARGIN > host.available) {
    throw outOfMemory(what, { needed: e.host.weights, ...host, device: 'host' }, ADVICE.load);
  }
  return e.host.weights;
}

function archOf(files: ModelFiles): string {
  const arch = files.first.metadata['general.architecture'];
  return arch?.type === 'string' ? arch.value : '';
}

/**
 * Whether `error` is the addon's `ERR_OUT_OF_MEMORY` (llama.cpp or ggml said an allocation
 * failed; src/errors.cc `OutOfMemoryCode` decides) and, if so, the {@link OutOfMemoryError}
 * with the numbers: `needed` the estimate (or the failed allocation's size if larger), the
 * device the failed buffer was for, and what was available there.
 * @internal
 */
export function allocationFailure(error: unknown, what: string, needed: number, advice: string): OutOfMemoryError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_OUT_OF_MEMORY' || (isLlamaError(error) && 'needed' in error)) return undefined;
  const message = error instanceof Error ? error.message : String(error);
  const size = Number(message.match(/(?:buffer of size|failed to allocate) (\d+)(?: bytes)?\b/)?.[1] ?? 0);
  const bufferType = message.match(/(?:unable|failed) to allocate (\S+) buffer/)?.[1];
  const device = bufferType === undefined || bufferType.startsWith('CPU') ? undefined : listDevices().find((d) => d.name === bufferType);
  const shortage = device
    ? { available: device.memoryFree, limitedBy: 'device' as const, device: device.name }
    : { ...memoryCheckHooks.hostMemory(), device: 'host' };
  return outOfMemory(what, { needed: Math.max(needed, size), ...shortage }, advice, error);
}
