#!/usr/bin/env node
// What prebuildify runs instead of node-gyp (scripts/prebuild.mjs passes it as --node-gyp).
// prebuildify 6 only knows node-gyp; our one build is CMake (cmake-js), so its
// `rebuild --target=… --arch=… --release` ends here, in scripts/build-native.mjs. The build
// folder is kept (no clean): an up-to-date build is reused as it is. N-API builds do not
// depend on --target (one binary serves every Node version), so it is ignored.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const command = args.find((a) => !a.startsWith('-'));
if (command !== 'rebuild' && command !== 'build') {
  process.stderr.write(`node-gyp-shim: only "rebuild" and "build" are supported, got ${command ?? 'nothing'}\n`);
  process.exit(2);
}
const arch = args.find((a) => a.startsWith('--arch='))?.slice('--arch='.length);
if (arch !== undefined && arch !== process.arch) {
  process.stderr.write(`node-gyp-shim: cross-compiling (${process.arch} → ${arch}) is not supported; build on a ${arch} machine\n`);
  process.exit(2);
}
if (args.includes('--debug')) {
  process.stderr.write('node-gyp-shim: debug prebuilds are not supported\n');
  process.exit(2);
}
const script = join(dirname(fileURLToPath(import.meta.url)), 'build-native.mjs');
const result = spawnSync(process.execPath, [script], { stdio: 'inherit' });
process.exit(result.status ?? 1);
