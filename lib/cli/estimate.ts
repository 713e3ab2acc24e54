/**
 * `llama-napi estimate -m FILE [-c N] [-ngl N] …`: the model card's "Max RAM required"
 * column, computed for this machine and these settings with the library's estimateMemory
 * (metadata only, nothing loaded): per device and host, weights / KV cache / compute, and
 * whether it fits — counting memory-mapped weights as paged from disk, not as needing RAM.
 */
import { parseArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { ESTIMATE_GROUPS, flagsOf } from './flags.js';
import { commandHelp } from './help.js';
import { settingsText } from './load.js';
import { estimatePlan, isMapped, judgeMemory, suggestFit, type MemoryPlan } from './memory-check.js';
import { modelFacts, readModelHeader } from './model-facts.js';
import { resolveModelPath } from './model-source.js';
import { FlagValues, contextOptions, placementOptions } from './options.js';
import { formatBytes, table, type Terminal } from './terminal.js';

/** Runs `llama-napi estimate ARGS…`; resolves to the exit code (0 whether or not it fits). */
export async function estimateCommand(argv: readonly string[], term: Terminal): Promise<number> {
  const args = parseArgs(argv, flagsOf(ESTIMATE_GROUPS), 'estimate');
  // `estimate model.gguf` reads as well as `estimate -m model.gguf`.
  const [positional, extra] = args.positionals;
  const unexpected = args.flags['model'] !== undefined ? positional : extra;
  if (unexpected !== undefined) throw new UsageError(`unexpected argument "${unexpected}"`, 'estimate');
  const values = new FlagValues(positional === undefined ? args : { ...args, flags: { ...args.flags, model: positional } }, 'estimate');
  if (values.flag('help')) {
    term.out(commandHelp('estimate'));
    return EXIT.ok;
  }
  const load = placementOptions(values);
  if (load.gpuLayers === 'auto') throw new UsageError('-ngl auto has no fixed placement to estimate: give a number or max', 'estimate');
  const path = await resolveModelPath(values, term, 'estimate');
  const facts = modelFacts(await readModelHeader(path));
  const trained = facts.trainedContextLength ?? 0;
  const context = contextOptions(values, trained);
  const plan: MemoryPlan = { path, load, context, layerCount: facts.layerCount ?? 0, trainedContextLength: trained };
  const estimate = await estimatePlan(plan);
  const mapped = isMapped(load);
  const verdict = judgeMemory(estimate, mapped);
  const suggestions = verdict.kind === 'refuse' ? await suggestFit(plan) : [];
  // What llama.cpp will allocate: an unset -c is the library's default, min(4096, trained).
  const contextSize = context.contextSize ?? Math.min(4096, trained);

  if (values.flag('json')) {
    term.out(
      `${JSON.stringify({
        model: path,
        settings: { contextSize, gpuLayers: load.gpuLayers ?? 0, mmap: mapped, mlock: load.useMlock === true },
        devices: estimate.devices,
        host: estimate.host,
        hostNeeded: verdict.hostNeed,
        mappedWeights: mapped ? estimate.host.weights : 0,
        maxRamRequired: estimate.host.total,
        fits: verdict.kind !== 'refuse',
        verdict: verdict.kind,
        suggestions,
      })}\n`,
    );
    return EXIT.ok;
  }

  const rows = [['device', 'weights', 'KV cache', 'compute', 'total', 'free', 'fits']];
  for (const d of estimate.devices) rows.push([d.name, ...sizes(d), d.total <= d.free ? 'yes' : 'NO']);
  const h = estimate.host;
  rows.push([`${h.name} (host)`, ...sizes(h), verdict.hostShort ? 'NO' : 'yes']);
  const lines = [
    `model    ${path}`,
    `settings ${settingsText(load, { contextSize })}${mapped ? ' (weights memory-mapped)' : ''}`,
    '',
    ...table(rows),
    '',
    `max RAM required: ${formatBytes(h.total)}${mapped && h.weights > 0 ? `, of which ${formatBytes(h.weights)} mapped weights paged from disk (need free RAM only to run at full speed): ${formatBytes(verdict.hostNeed)} must be free` : ''}`,
    `fits: ${verdictText(verdict.kind)}`,
  ];
  if (suggestions.length > 0) lines.push(`would fit: ${suggestions.join(', or ')}`);
  term.out(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

function sizes(u: { weights: number; kvCache: number; compute: number; total: number; free: number }): string[] {
  return [u.weights, u.kvCache, u.compute, u.total, u.free].map(formatBytes);
}

function verdictText(kind: 'fits' | 'diskSpeed' | 'refuse'): string {
  if (kind === 'fits') return 'yes';
  if (kind === 'diskSpeed') return 'yes, but at disk speed: the mapped weights do not fit in free RAM next to the rest';
  return 'NO';
}
