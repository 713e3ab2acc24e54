#!/usr/bin/env node
// Builds the addon through the one CMake build (CMakeLists.txt) with cmake-js.
// LLAMA_NAPI_BACKEND selects llama.cpp backends (cpu, cuda, metal, vulkan; comma separated);
// macOS arm64 defaults to metal. LLAMA_NAPI_CPU_VARIANTS picks the CPU backend variants
// (scripts/cpu-variants.mjs). Extra CMake definitions: LLAMA_NAPI_CMAKE_ARGS="-DFOO=1 -DBAR=2".
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildToolsNodePath, resolveBuildTool } from './build-tools.mjs';
import { cpuVariantsForBuild } from './cpu-variants.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cmakeJsManifest = resolveBuildTool(root, 'cmake-js/package.json');
if (cmakeJsManifest === undefined) {
  process.stderr.write('[llama-napi] cmake-js is missing: run `npm install` in the repository (it is a devDependency)\n');
  process.exit(1);
}
const cmakeJs = join(dirname(cmakeJsManifest), 'bin', 'cmake-js');

const defaultBackend = process.platform === 'darwin' && process.arch === 'arm64' ? 'metal' : 'cpu';
const backend = process.env.LLAMA_NAPI_BACKEND || defaultBackend;
const extra = (process.env.LLAMA_NAPI_CMAKE_ARGS ?? '')
  .split(/\s+/)
  .filter(Boolean)
  .map((arg) => arg.replace(/^-D/, '--CD'));

// LLAMA_NAPI_BUILD_DIR builds a variant beside the default one (e.g. build-vulkan); load it
// with LLAMA_NAPI_ADDON=<dir>/Release/llama_napi.node.
const outDir = process.env.LLAMA_NAPI_BUILD_DIR || 'build';
const cpuVariants = cpuVariantsForBuild();
// LLAMA_NAPI_SANITIZE=address,undefined: a sanitizer build (scripts/test-sanitize.mjs); the
// empty value is passed too, so that an unset variable turns a cached one off.
const sanitize = process.env.LLAMA_NAPI_SANITIZE ?? '';
const definitions = [
  `--CDLLAMA_NAPI_BACKEND=${backend.replace(/,/g, ';')}`,
  `--CDLLAMA_NAPI_CPU_VARIANTS=${cpuVariants}`,
  `--CDLLAMA_NAPI_SANITIZE=${sanitize}`,
  ...extra,
];
process.stderr.write(`[llama-napi] building the native addon (backend: ${backend}, CPU variants: ${cpuVariants}); this takes a few minutes\n`);
const env = { ...process.env, NODE_PATH: buildToolsNodePath(root) };
// Configure every time (cmake-js `compile` would keep an existing cache and ignore changed
// options), then build: ninja rebuilds only what the new configuration changes.
// Extra arguments (e.g. --parallel 2) go to both steps.
for (const step of [['configure', '--out', outDir, ...definitions], ['build', '--out', outDir]]) {
  const args = [cmakeJs, ...step, ...process.argv.slice(2)];
  const result = spawnSync(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
