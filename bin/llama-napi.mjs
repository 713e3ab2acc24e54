#!/usr/bin/env node
// `npx llama-napi [info] [--json]`: what this installation runs on — llama.cpp version and
// commit, the addon file and where it came from, backends loaded and skipped, the CPU variant
// chosen, devices. Exit code 1 when the addon or its backends cannot be loaded.
import { getBuildInfo } from '../dist/index.js';

const args = process.argv.slice(2);
const command = args.find((a) => !a.startsWith('-')) ?? 'info';
if (command !== 'info' || args.includes('--help') || args.includes('-h')) {
  process.stdout.write('usage: llama-napi [info] [--json]\n');
  process.exit(command === 'info' ? 0 : 2);
}

let info;
try {
  info = getBuildInfo();
} catch (error) {
  process.stderr.write(`llama-napi: ${error.code ?? 'ERR'}: ${error.message}\n`);
  process.exit(1);
}
if (args.includes('--json')) {
  process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
  process.exit(0);
}
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
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
process.stdout.write(`${lines.join('\n')}\n`);
