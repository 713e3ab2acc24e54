/**
 * `llama-napi [info] [--json]`: what this installation runs on — llama.cpp version and
 * commit, the addon file and where it came from, backends loaded and skipped, the CPU variant
 * chosen, devices. Exit code 1 when the addon or its backends cannot be loaded. (The output
 * is unchanged from the first `bin/llama-napi.mjs`, which printed only this.)
 */
import { getBuildInfo, type BuildInfo } from '../index.js';
import { EXIT } from './exit-codes.js';
import { commandHelp } from './help.js';
import type { Terminal } from './terminal.js';

/** Runs `llama-napi info ARGS…`; resolves to the exit code. */
export function infoCommand(argv: readonly string[], term: Terminal): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    term.out(commandHelp('info'));
    return EXIT.ok;
  }
  let info: BuildInfo;
  try {
    info = getBuildInfo();
  } catch (error) {
    const e = error as Error & { code?: string };
    term.note(`llama-napi: ${e.code ?? 'ERR'}: ${e.message}`);
    return EXIT.failure;
  }
  if (argv.includes('--json')) {
    term.out(`${JSON.stringify(info, null, 2)}\n`);
    return EXIT.ok;
  }
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const lines = [
    `llama-napi ${info.packageVersion}`,
    `llama.cpp  ${info.llamaTag} (${info.llamaVersion}), commit ${info.llamaCommit}`,
    `addon      ${info.addonPath} (${info.addonSource})`,
    `cpu        variant ${info.cpuVariant}: ${Object.keys(info.cpuFeatures).join(' ') || '-'}`,
    'backends',
    ...info.backends.map((b) => `  loaded   ${b.name}${b.variant ? ` (${b.variant})` : ''}, ${b.devices} device(s): ${b.path}`),
    ...info.skippedBackends.map((b) => `  skipped  ${b.backend}: ${b.reason} (${b.path})`),
    'devices',
    ...info.devices.map((d) => `  ${d.name.padEnd(10)} ${d.type.padEnd(5)} ${d.description} — ${mib(d.memoryFree)} free of ${mib(d.memoryTotal)}`),
  ];
  term.out(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
