#!/usr/bin/env node
// npm's install step (an explicit script keeps npm from inventing `node-gyp rebuild`).
// 1. No source build asked for, and the addon node-gyp-build would pick (a prebuild for this
//    platform, architecture and libc, or an earlier local build) loads: nothing to do, no
//    compiler needed.
// 2. Otherwise build from source, saying why: bring in the pinned llama.cpp tree
//    (scripts/vendor.mjs: from the npm registry), fetch the build tools if this is a
//    registry install (cmake-js, node-addon-api: devDependencies, so a prebuild install never
//    downloads them), then the CMake build (scripts/build-native.mjs) with progress on stderr.
// A source build is forced by LLAMA_NAPI_BUILD=source or `npm install --llama-napi-build=source`
// (LLAMA_NAPI_BACKEND picks its backends: cpu, cuda, metal, vulkan); LLAMA_NAPI_BUILD=prebuild
// fails instead of building.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuildTools } from './build-tools.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (msg) => process.stderr.write(`[llama-napi] ${msg}\n`);
const buildMode = process.env.LLAMA_NAPI_BUILD || process.env.npm_config_llama_napi_build || '';

function run(script) {
  const result = spawnSync(process.execPath, [join(root, 'scripts', script)], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    say(`${script} failed; see the output above. A source build needs git, CMake ≥ 3.18 and a C++17 compiler.`);
    process.exit(result.status ?? 1);
  }
}

/** Why the ready-made addon cannot be used, or null when it loads. */
function readyAddonProblem() {
  let path;
  try {
    path = require('node-gyp-build/node-gyp-build.js').resolve(root);
  } catch {
    return `no prebuilt binary for ${process.platform}-${process.arch} in this package, and no earlier build`;
  }
  // Loading it in a child process proves the binary and its libraries fit this machine
  // (libc, loader) without keeping it mapped in npm's process.
  const probe = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', path], { encoding: 'utf8', timeout: 60_000 });
  if (probe.status === 0) {
    say(`using ${path.includes('prebuilds') ? 'the prebuilt' : 'the locally built'} addon ${path} (LLAMA_NAPI_BUILD=source rebuilds)`);
    return null;
  }
  return `the addon ${path} does not load here: ${(probe.stderr || probe.error?.message || '').trim().split('\n').slice(-3).join(' ')}`;
}

if (!['', 'source', 'prebuild'].includes(buildMode)) {
  say(`LLAMA_NAPI_BUILD=${buildMode}: expected "source" (always build) or "prebuild" (never build)`);
  process.exit(1);
}
if (buildMode !== 'source') {
  const problem = readyAddonProblem();
  if (problem === null) process.exit(0);
  if (buildMode === 'prebuild') {
    say(`${problem}, and LLAMA_NAPI_BUILD=prebuild forbids a source build`);
    process.exit(1);
  }
  say(`${problem}: building from source (about 5 minutes; \`npm install --foreground-scripts\` shows the progress)`);
} else {
  say('LLAMA_NAPI_BUILD=source: building from source');
}
run('vendor.mjs');
ensureBuildTools(root, say);
run('build-native.mjs');
