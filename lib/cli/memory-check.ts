/**
 * Before loading: will it fit? The library's `estimateMemory` simulates the load and the
 * context; this file turns its figures into a decision and words:
 *
 * - it fits → load;
 * - the weights are memory-mapped and do not fit in free RAM next to everything else → say
 *   plainly that the model will run at disk speed (the OS pages weights in from the file),
 *   and load;
 * - a device, or the host's non-mapped part (KV cache, compute, and the weights themselves
 *   with --no-mmap/--mlock), does not fit → refuse with the figures and the -ngl / -c that
 *   would fit, instead of being killed by the OOM killer halfway through.
 */
import { estimateMemory, type ContextOptions, type LoadModelOptions, type MemoryEstimate, type MemoryUsage } from '../index.js';
import { CliFailure } from './exit-codes.js';
import { formatBytes } from './terminal.js';

/** What the estimate means for a load. */
export interface MemoryVerdict {
  /** `fits`; `diskSpeed`: fits only because mapped weights page from disk; `refuse`: does not fit. */
  readonly kind: 'fits' | 'diskSpeed' | 'refuse';
  /** Whether the host's weights are memory-mapped (not with `--no-mmap` or `--mlock`). */
  readonly mapped: boolean;
  /** Host bytes that must be free: all of it, less mapped weights. */
  readonly hostNeed: number;
  /** Devices whose total exceeds their free memory. */
  readonly shortDevices: readonly MemoryUsage[];
  /** Whether the host lacks `hostNeed`. */
  readonly hostShort: boolean;
}

/** Whether host weights are mapped from the file with these load options (llama.cpp's default). */
export function isMapped(load: LoadModelOptions): boolean {
  return load.useMmap !== false && load.useMlock !== true;
}

/** Judges an estimate; a pure function of its figures. */
export function judgeMemory(e: MemoryEstimate, mapped: boolean): MemoryVerdict {
  const hostNeed = e.host.total - (mapped ? e.host.weights : 0);
  const shortDevices = e.devices.filter((d) => d.total > d.free);
  const hostShort = hostNeed > e.host.free;
  const kind = shortDevices.length > 0 || hostShort ? 'refuse' : mapped && e.host.total > e.host.free ? 'diskSpeed' : 'fits';
  return { kind, mapped, hostNeed, shortDevices, hostShort };
}

/** `weights 24.6 GiB + KV cache 4.00 GiB + compute 1.10 GiB = 29.7 GiB` */
export function describeUsage(u: MemoryUsage): string {
  return `weights ${formatBytes(u.weights)} + KV cache ${formatBytes(u.kvCache)} + compute ${formatBytes(u.compute)} = ${formatBytes(u.total)}`;
}

/** The lines that explain a refusal: what each short device needs and has. */
export function refusalLines(e: MemoryEstimate, v: MemoryVerdict): string[] {
  const lines = v.shortDevices.map((d) => `  ${d.name}: needs ${formatBytes(d.total)} (${describeUsage(d)}), ${formatBytes(d.free)} free`);
  if (v.hostShort) {
    const how = v.mapped ? 'weights mapped from the file, not counted' : 'weights read into RAM (--no-mmap/--mlock)';
    lines.push(`  host RAM: needs ${formatBytes(v.hostNeed)} (${describeUsage(e.host)}; ${how}), ${formatBytes(e.host.free)} free`);
  }
  return lines;
}

/** The disk-speed warning: mapped weights that will not all stay in RAM. */
export function diskSpeedLines(e: MemoryEstimate): string[] {
  return [
    `llama-napi: warning: the weights (${formatBytes(e.host.weights)}) do not fit in free RAM (${formatBytes(e.host.free)}) next to the KV cache and compute buffers (${formatBytes(e.host.kvCache + e.host.compute)}).`,
    '  They are memory-mapped, so the model will load, but it will run at disk speed: the OS reads weights from the file again and again.',
    '  Offload layers to a GPU (-ngl), use a smaller quantisation, or free memory to run at full speed.',
  ];
}

/** A plan `estimateMemory` can simulate: placement, file mode and context. */
export interface MemoryPlan {
  readonly path: string;
  readonly load: LoadModelOptions;
  readonly context: ContextOptions;
  /** Layers of the model (for the -ngl search). */
  readonly layerCount: number;
  /** The model's trained context length (for the -c search when no -c was given). */
  readonly trainedContextLength: number;
}

/** Simulates a plan. `gpuLayers: 'auto'` has no fixed placement to estimate: it is planned by loadModel itself. */
export async function estimatePlan(plan: MemoryPlan): Promise<MemoryEstimate> {
  const { gpuLayers, cpuMoe, nCpuMoe, tensorOverrides, splitMode, mainGpu, tensorSplit, useMmap, useMlock } = plan.load;
  const placement = { gpuLayers: gpuLayers === 'auto' ? 0 : gpuLayers, cpuMoe, nCpuMoe, tensorOverrides, splitMode, mainGpu, tensorSplit, useMmap, useMlock };
  const defined = Object.fromEntries(Object.entries(placement).filter(([, v]) => v !== undefined));
  return estimateMemory(plan.path, { ...defined, context: plan.context });
}

/**
 * What would fit instead, by simulating a few variants (each is a metadata-only estimate):
 * fewer GPU layers, a smaller context (halving down to 256), or mapped weights.
 */
export async function suggestFit(plan: MemoryPlan): Promise<string[]> {
  const fits = async (load: LoadModelOptions, context: ContextOptions): Promise<boolean> =>
    judgeMemory(await estimatePlan({ ...plan, load, context }), isMapped(load)).kind !== 'refuse';
  const suggestions: string[] = [];

  const ngl = plan.load.gpuLayers;
  if (ngl !== undefined && ngl !== 0 && ngl !== 'auto') {
    // Device use grows with the layer count: bisect for the most layers that fit.
    let low = -1;
    let high = ngl === 'max' ? plan.layerCount + 1 : Math.min(ngl, plan.layerCount + 1);
    while (high - low > 1) {
      const mid = (low + high) >> 1;
      if (await fits({ ...plan.load, gpuLayers: mid }, plan.context)) low = mid;
      else high = mid;
    }
    if (low >= 0) suggestions.push(`-ngl ${low}`);
  }

  // Without -c the library's default applies: min(4096, trained length) (ContextOptions.contextSize).
  const size = plan.context.contextSize ?? Math.min(4096, plan.trainedContextLength);
  {
    for (let c = Math.floor(size / 2 / 256) * 256; c >= 256; c = Math.floor(c / 2 / 256) * 256) {
      if (await fits(plan.load, { ...plan.context, contextSize: c, batchSize: undefined, ubatchSize: undefined })) {
        suggestions.push(`-c ${c}`);
        break;
      }
    }
  }

  if (!isMapped(plan.load) && (await fits({ ...plan.load, useMmap: undefined, useMlock: undefined }, plan.context))) {
    suggestions.push('without --no-mmap/--mlock (weights mapped from the file; slower if they do not fit in RAM)');
  }
  return suggestions;
}

/**
 * The check `run` makes before loading.
 * @returns the lines to print as a warning (empty when it simply fits)
 * @throws CliFailure (exit 1) with the figures and suggestions when it does not fit
 */
export async function checkMemory(plan: MemoryPlan, settings: string): Promise<string[]> {
  const estimate = await estimatePlan(plan);
  const verdict = judgeMemory(estimate, isMapped(plan.load));
  if (verdict.kind === 'diskSpeed') return diskSpeedLines(estimate);
  if (verdict.kind === 'fits') return [];
  const suggestions = await suggestFit(plan);
  const lines = [
    `llama-napi: the model does not fit in memory with ${settings}; not loading it.`,
    ...refusalLines(estimate, verdict),
    suggestions.length > 0 ? `  would fit: ${suggestions.join(', or ')}` : '  nothing smaller fits either: use a smaller quantisation or free memory',
  ];
  throw new CliFailure(lines.join('\n'));
}
