#!/usr/bin/env node
// npm's install step. An explicit script keeps npm from inventing `node-gyp rebuild`.
// 1. A usable addon is already there (a prebuild for this platform, or an earlier local
//    build) and no source build is asked for: nothing to do.
// 2. Otherwise: bring in the pinned llama.cpp tree (scripts/vendor.mjs), then build the
//    addon from source (scripts/build-native.mjs), with progress on stderr.
// LLAMA_NAPI_BUILD=source forces step 2.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const forceSource = process.env.LLAMA_NAPI_BUILD === 'source';

function hasAddon(dir) {
  return existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.node'));
}

function run(script) {
  const result = spawnSync(process.execPath, [join(root, 'scripts', script)], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const prebuilt = hasAddon(join(root, 'prebuilds', `${process.platform}-${process.arch}`));
const built = hasAddon(join(root, 'build', 'Release'));
if (!forceSource && (prebuilt || built)) {
  process.stderr.write(`[llama-napi] using the ${prebuilt ? 'prebuilt' : 'locally built'} addon (LLAMA_NAPI_BUILD=source rebuilds)\n`);
  process.exit(0);
}
run('vendor.mjs');
run('build-native.mjs');
