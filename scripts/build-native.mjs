#!/usr/bin/env node
// Builds the addon through the one CMake build (CMakeLists.txt) with cmake-js.
// LLAMA_NAPI_BACKEND selects llama.cpp backends (cpu, cuda, metal, vulkan; comma separated);
// macOS arm64 defaults to metal. Extra CMake definitions: LLAMA_NAPI_CMAKE_ARGS="-DFOO=1 -DBAR=2".
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');

const defaultBackend = process.platform === 'darwin' && process.arch === 'arm64' ? 'metal' : 'cpu';
const backend = process.env.LLAMA_NAPI_BACKEND || defaultBackend;
const extra = (process.env.LLAMA_NAPI_CMAKE_ARGS ?? '')
  .split(/\s+/)
  .filter(Boolean)
  .map((arg) => arg.replace(/^-D/, '--CD'));

// LLAMA_NAPI_BUILD_DIR builds a variant beside the default one (e.g. build-vulkan); load it
// with LLAMA_NAPI_ADDON=<dir>/Release/llama_napi.node.
const outDir = process.env.LLAMA_NAPI_BUILD_DIR || 'build';
const args = [cmakeJs, 'compile', '--out', outDir, `--CDLLAMA_NAPI_BACKEND=${backend.replace(/,/g, ';')}`, ...extra, ...process.argv.slice(2)];
process.stderr.write(`[llama-napi] building the native addon (backend: ${backend}); this takes a few minutes\n`);
const result = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
process.exit(result.status ?? 1);
