/**
 * From flags to a loaded model and a context: resolve the file (pulling a hub reference),
 * read its header, check memory, load with a progress bar, create the context.
 */
import { loadModel, type Context, type ContextOptions, type LoadModelOptions, type Model } from '../index.js';
import { checkMemory } from './memory-check.js';
import { modelFacts, readModelHeader } from './model-facts.js';
import { resolveModelPath } from './model-source.js';
import { contextOptions, placementOptions, type FlagValues } from './options.js';
import { formatBytes, formatCount, type Terminal } from './terminal.js';

/** A loaded model and its context, and how long the load took. */
export interface Loaded {
  readonly model: Model;
  readonly context: Context;
  readonly path: string;
  readonly loadMs: number;
}

/** The settings that decide memory, as flags (`-c 32768 -ngl 35 --no-mmap`), for messages. */
export function settingsText(load: LoadModelOptions, context: ContextOptions): string {
  const parts = [
    context.contextSize === undefined ? 'the default -c' : `-c ${context.contextSize}`,
    `-ngl ${load.gpuLayers ?? 0}`,
  ];
  if (load.nCpuMoe) parts.push(`--n-cpu-moe ${load.nCpuMoe}`);
  if (load.cpuMoe) parts.push('--cpu-moe');
  if (load.useMmap === false) parts.push('--no-mmap');
  if (load.useMlock) parts.push('--mlock');
  return parts.join(' ');
}

/** The model file and the options the flags describe, checked against this machine's memory. */
export interface LoadPlan {
  readonly path: string;
  readonly placement: LoadModelOptions;
  readonly context: ContextOptions;
}

/**
 * Resolves the model (pulling a hub reference), reads its header, and checks that what the
 * flags ask for fits (refusing with the figures when it does not; warning when mapped weights
 * would page from disk). Argument errors of the library (a context larger than the trained
 * length, say) propagate as they are; main.ts turns them into usage errors.
 */
export async function planFromFlags(f: FlagValues, term: Terminal, command: string, signal: AbortSignal): Promise<LoadPlan> {
  const placement = placementOptions(f);
  const path = await resolveModelPath(f, term, command, signal);
  const facts = modelFacts(await readModelHeader(path));
  const trained = facts.trainedContextLength ?? 0;
  const context = contextOptions(f, trained);

  // 'auto' is planned by loadModel itself (it fails before allocating when nothing fits).
  if (placement.gpuLayers !== 'auto') {
    const warning = await checkMemory(
      { path, load: placement, context, layerCount: facts.layerCount ?? 0, trainedContextLength: trained },
      settingsText(placement, context),
    );
    for (const line of warning) term.note(line);
  }
  return { path, placement, context };
}

/** Loads a planned model with a progress bar on a terminal. */
export async function loadPlanned(plan: LoadPlan, term: Terminal, signal: AbortSignal): Promise<Model> {
  const { path, placement, context } = plan;
  return loadModel(path, {
    ...placement,
    ...(placement.gpuLayers === 'auto' ? { autoFit: { context } } : {}),
    onProgress: (p) => term.progress('loading', p),
    signal,
  });
}

/** Says what was loaded, on stderr. */
export function noteLoaded(term: Terminal, model: Model, path: string, loadMs: number, contextSize?: number): void {
  term.clearProgress();
  const { architecture, quantization, parameterCount, expertCount, expertUsedCount } = model.info;
  const experts = expertCount > 0 ? `, ${expertUsedCount} of ${expertCount} experts` : '';
  term.note(
    `llama-napi: loaded ${path} (${architecture}, ${quantization}, ${formatCount(parameterCount)} parameters${experts}, ` +
      `${formatBytes(model.info.fileSize)}) in ${loadMs.toFixed(0)} ms${contextSize === undefined ? '' : `; context ${contextSize} tokens`}`,
  );
}

/** Loads what the flags describe and creates its context. */
export async function loadFromFlags(f: FlagValues, term: Terminal, signal: AbortSignal): Promise<Loaded> {
  const plan = await planFromFlags(f, term, 'run', signal);
  const { path, context } = plan;
  const started = performance.now();
  const model = await loadPlanned(plan, term, signal);
  try {
    const ctx = await model.createContext(context);
    const loadMs = performance.now() - started;
    noteLoaded(term, model, path, loadMs, ctx.size);
    return { model, context: ctx, path, loadMs };
  } catch (error) {
    await model.dispose();
    throw error;
  }
}
