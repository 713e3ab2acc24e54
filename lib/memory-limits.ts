/**
 * How much host memory this process can still get, and {@link OutOfMemoryError}: the error a
 * load or a context that would not fit (or whose allocation failed) rejects with.
 *
 * Policy only: reads /proc and the cgroup files, never the addon (so it is tested with fake
 * files, see test/memory-limits.test.ts).
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { LlamaError } from './errors.js';

/**
 * What bounded the host memory that a process can still get (see {@link OutOfMemoryError.limitedBy}):
 *
 * - `'MemAvailable'`: the machine's available memory (Linux `/proc/meminfo`: free memory plus
 *   what the kernel can reclaim, without swap)
 * - `'cgroup'`: the memory limit of the process's control group (a container's limit:
 *   cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`) minus its working set
 * - `'RLIMIT_AS'`: the address-space limit (`ulimit -v`) minus the process's virtual size
 * - `'freemem'`: `os.freemem()` (Windows and other systems)
 * - `'totalmem'`: `os.totalmem()` (macOS, whose free memory excludes the reclaimable cache)
 * - `'device'`: a GPU's free memory as its backend reports it
 */
export type MemoryLimit = 'MemAvailable' | 'cgroup' | 'RLIMIT_AS' | 'freemem' | 'totalmem' | 'device';

/** Host memory this process can still allocate. @internal */
export interface HostMemory {
  /** Bytes: the smallest of the limits that apply. */
  readonly available: number;
  /** Which limit gave {@link HostMemory.available}. */
  readonly limitedBy: MemoryLimit;
}

/**
 * Bytes kept free on top of what a load or a context needs: the pre-checks refuse when
 * `needed + MEMORY_MARGIN > available`. Covers what llama.cpp allocates besides its buffers
 * (graph metadata, thread stacks, allocator overhead) and what the JS heap may still take.
 * @internal
 */
export const MEMORY_MARGIN = 64 * 2 ** 20;

/** Reads a small text file; `undefined` when it does not exist or cannot be read. @internal */
export type TextFileReader = (path: string) => string | undefined;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** cgroup limits at or above this are "no limit" (v1 writes 2^63 rounded down to a page). */
const UNLIMITED = 2 ** 60;

/**
 * Host memory this process can still get. On Linux the smallest of: `MemAvailable` from
 * `/proc/meminfo`; the limit of the process's cgroup and of each ancestor (v2 `memory.max`, v1
 * `memory.limit_in_bytes`) minus its working set (usage without the inactive file cache, which
 * the kernel reclaims before it kills); `RLIMIT_AS` minus `VmSize`. macOS: `os.totalmem()`
 * (its `os.freemem()` counts neither the cache nor compressible memory, so it would refuse
 * what fits); elsewhere `os.freemem()`. Synchronous: a few small /proc reads.
 * @internal
 *
 * @param read - reads a file (tests pass fake /proc contents)
 * @param platform - `process.platform` unless testing
 */
export function hostMemory(read: TextFileReader = readText, platform: NodeJS.Platform = process.platform): HostMemory {
  if (platform === 'darwin') return { available: totalmem(), limitedBy: 'totalmem' };
  if (platform !== 'linux') return { available: freemem(), limitedBy: 'freemem' };
  const candidates: HostMemory[] = [];
  const memAvailable = kibField(read('/proc/meminfo'), 'MemAvailable');
  candidates.push(
    memAvailable === undefined ? { available: freemem(), limitedBy: 'freemem' } : { available: memAvailable, limitedBy: 'MemAvailable' },
  );
  const cgroup = cgroupHeadroom(read);
  if (cgroup !== undefined) candidates.push({ available: cgroup, limitedBy: 'cgroup' });
  const addressSpace = addressSpaceHeadroom(read);
  if (addressSpace !== undefined) candidates.push({ available: addressSpace, limitedBy: 'RLIMIT_AS' });
  return candidates.reduce((a, b) => (b.available < a.available ? b : a));
}

/**
 * Bytes this process may still map under `RLIMIT_AS` (`ulimit -v`), or `undefined` when
 * unlimited or not Linux. Memory-mapped weights count against it, unlike against the others.
 * @internal
 */
export function addressSpaceHeadroom(read: TextFileReader = readText): number | undefined {
  const limits = read('/proc/self/limits');
  const line = limits?.split('\n').find((l) => l.startsWith('Max address space'));
  const soft = line?.slice('Max address space'.length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined; // "unlimited"
  const size = kibField(read('/proc/self/status'), 'VmSize') ?? 0;
  return Math.max(0, Number(soft) - size);
}

/** The smallest `limit − working set` over the process's memory cgroup and its ancestors. */
function cgroupHeadroom(read: TextFileReader): number | undefined {
  const lines = read('/proc/self/cgroup')?.split('\n') ?? [];
  let best: number | undefined;
  const consider = (value: number | undefined): void => {
    if (value !== undefined && (best === undefined || value < best)) best = value;
  };
  for (const line of lines) {
    const [, controllers, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? [];
    if (path === undefined) continue;
    if (controllers === '') {
      // cgroup v2: memory.max / memory.current / memory.stat's inactive_file
      consider(walkCgroup(read, '/sys/fs/cgroup', path, 'memory.max', 'memory.current', 'inactive_file'));
    } else if (controllers!.split(',').includes('memory')) {
      // cgroup v1
      consider(
        walkCgroup(read, '/sys/fs/cgroup/memory', path, 'memory.limit_in_bytes', 'memory.usage_in_bytes', 'total_inactive_file'),
      );
    }
  }
  return best;
}

/**
 * Walks from the process's cgroup folder up to the hierarchy's root. Where the folder does not
 * exist (a container that mounts its own cgroup at the root without a cgroup namespace), the
 * root itself is the process's cgroup.
 */
function walkCgroup(
  read: TextFileReader,
  root: string,
  path: string,
  limitFile: string,
  usageFile: string,
  inactiveKey: string,
): number | undefined {
  let best: number | undefined;
  const parts = path.split('/').filter((p) => p !== '' && p !== '..');
  for (let depth = parts.length; depth >= 0; depth--) {
    const dir = [root, ...parts.slice(0, depth)].join('/');
    const limitText = read(`${dir}/${limitFile}`)?.trim();
    if (limitText === undefined || limitText === 'max' || !/^\d+$/.test(limitText)) continue;
    const limit = Number(limitText);
    if (limit >= UNLIMITED) continue;
    const usage = Number(read(`${dir}/${usageFile}`)?.trim() ?? 0) || 0;
    const stat = read(`${dir}/memory.stat`) ?? '';
    const inactive = Number(stat.match(new RegExp(`^${inactiveKey} (\\d+)$`, 'm'))?.[1] ?? 0);
    const headroom = Math.max(0, limit - Math.max(0, usage - inactive));
    if (best === undefined || headroom < best) best = headroom;
  }
  return best;
}

/** A `Name:   123 kB` field of /proc/meminfo or /proc/self/status, in bytes. */
function kibField(text: string | undefined, name: string): number | undefined {
  const match = text?.match(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm'));
  return match ? Number(match[1]) * 1024 : undefined;
}

/** What {@link OutOfMemoryError} says about the memory that was short. */
export interface MemoryShortage {
  /**
   * Bytes the load or context needs where memory was short (`device`): llama.cpp's simulated
   * figure; a closed-form bound (KV cache exact, compute buffers generous) when even the
   * simulation ran out of memory or was not needed; for a failed allocation, the estimate or the
   * failed buffer's size if larger.
   */
  readonly needed: number;
  /** Bytes that were free there when it was checked (without the 64 MiB margin the checks keep). */
  readonly available: number;
  /** `'host'`, or the device name (as {@link listDevices} reports it) whose memory was short. */
  readonly device: string;
  /** What bounded {@link MemoryShortage.available}. */
  readonly limitedBy: MemoryLimit;
  /**
   * `'estimate'`: refused before llama.cpp allocated anything. `'allocation'`: an allocation
   * of llama.cpp or ggml failed (a limit the estimate could not see, or an estimate too low).
   */
  readonly stage: 'estimate' | 'allocation';
}

/**
 * `ERR_OUT_OF_MEMORY`: a model load or a context that does not fit in the memory this process
 * can get (refused before anything is allocated), or whose allocation failed inside llama.cpp.
 * Carries the numbers; the message says what to change. `error.name` is `'LlamaError'`, so
 * `isLlamaError(error, 'ERR_OUT_OF_MEMORY')` recognises it in either module build.
 */
export class OutOfMemoryError extends LlamaError implements MemoryShortage {
  declare readonly code: 'ERR_OUT_OF_MEMORY';
  readonly needed: number;
  readonly available: number;
  readonly device: string;
  readonly limitedBy: MemoryLimit;
  readonly stage: 'estimate' | 'allocation';

  /**
   * @param message - what did not fit and what to do about it
   * @param shortage - the numbers
   * @param options - `cause`: the native error, for an allocation that failed
   */
  constructor(message: string, shortage: MemoryShortage, options?: { cause?: unknown }) {
    super('ERR_OUT_OF_MEMORY', message, options);
    this.needed = shortage.needed;
    this.available = shortage.available;
    this.device = shortage.device;
    this.limitedBy = shortage.limitedBy;
    this.stage = shortage.stage;
  }
}

/** `123 MiB` (rounded up), for messages. @internal */
export function mebibytes(bytes: number): string {
  return `${Math.ceil(bytes / 2 ** 20)} MiB`;
}

/** Where the available number came from, for messages. */
function limitText(limitedBy: MemoryLimit, device: string): string {
  switch (limitedBy) {
    case 'MemAvailable':
      return 'available (MemAvailable)';
    case 'cgroup':
      return 'left under the cgroup memory limit';
    case 'RLIMIT_AS':
      return 'of address space left under RLIMIT_AS (ulimit -v)';
    case 'device':
      return `free on ${device}`;
    default:
      return 'free';
  }
}

/** The advice of an {@link OutOfMemoryError} message. @internal */
export const ADVICE = {
  context:
    'use a smaller contextSize or fewer sequences, a quantized KV cache (kvCacheTypeK/kvCacheTypeV "q8_0"), ' +
    'fewer gpuLayers when the GPU is short, or free memory (estimateMemory tells the sizes)',
  load:
    'keep useMmap on and useMlock off so the weights are paged from the file, use fewer gpuLayers when the GPU is short, ' +
    'a smaller quantization, or free memory (estimateMemory tells the sizes)',
} as const;

/**
 * The error of a pre-check that refused: `what` (e.g. `A context of 1048576 tokens`) needs
 * `needed` bytes where only `available` are free.
 * @internal
 */
export function outOfMemory(
  what: string,
  shortage: Omit<MemoryShortage, 'stage'>,
  advice: string,
  cause?: unknown,
): OutOfMemoryError {
  const where = shortage.device === 'host' ? 'host memory' : shortage.device;
  const stage = cause === undefined ? 'estimate' : 'allocation';
  const message =
    stage === 'estimate'
      ? `${what} does not fit: it needs ${mebibytes(shortage.needed)} of ${where} (+ ${mebibytes(MEMORY_MARGIN)} margin), ` +
        `${mebibytes(shortage.available)} ${limitText(shortage.limitedBy, shortage.device)}. To fix: ${advice}.`
      : `${what} could not be allocated (it needs about ${mebibytes(shortage.needed)} of ${where}, ` +
        `${mebibytes(shortage.available)} ${limitText(shortage.limitedBy, shortage.device)}). To fix: ${advice}. ` +
        `llama.cpp: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new OutOfMemoryError(message, { ...shortage, stage }, cause === undefined ? undefined : { cause });
}
