#!/usr/bin/env node
// `npm run prebuild`: prebuilds/<platform>-<arch>/ for this machine, made by prebuildify
// (--napi: one binary for every Node version with N-API 8; --strip; libc tag on Linux).
// prebuildify runs node-gyp, or what --node-gyp names: here scripts/node-gyp-shim.mjs, which
// ends in our one CMake build. prebuildify then copies the addon and every shared library of
// build/Release (libllama, libggml, the CPU variants, GPU backends) into the prebuild folder.
//
// On Linux the OpenMP runtime (libgomp) is copied in too: the prebuild needs nothing from the
// system but the C and C++ runtimes.
//
// GPU backends that are large or need a vendor runtime (cuda, vulkan) do not stay in the main
// package: they move to prebuilds/packages/<backend>-<platform>-<arch>/, an npm package
// (@llama-napi/<backend>-<platform>-<arch>) that the loader finds when it is installed.
//
// Defaults for a prebuild: every CPU variant llama.cpp defines (LLAMA_NAPI_CPU_VARIANTS=all)
// and the platform's default backend; both can be overridden through the environment.
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBackendFiles } from '../dist/backends.js';
import { writeBackendPackage } from './backend-package.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');

/** Backends shipped as packages of their own rather than beside the addon. */
const SEPARATE_BACKENDS = ['cuda', 'vulkan'];

process.env.LLAMA_NAPI_CPU_VARIANTS ||= 'all';
const shim = join(root, 'scripts', 'node-gyp-shim.mjs');
const folder = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
rmSync(folder, { recursive: true, force: true }); // no stale libraries from an earlier run

/**
 * prebuildify copies every shared library of build/Release; a development tree may also have
 * the benchmark tools' libraries there (llama-common, llama-bench-impl …), which the addon
 * does not use. Keep the addon, our llama.cpp libraries and the backends only.
 */
function keepOnlyOurLibraries(dir) {
  for (const name of readdirSync(dir)) {
    if (/\.node$|^(lib)?llama-napi-|^(lib)?ggml-/.test(name)) continue;
    rmSync(join(dir, name));
    process.stderr.write(`[llama-napi] left out of the prebuild: ${name}\n`);
  }
}

/**
 * Linux: copies the OpenMP runtime the libraries link (libgomp, part of GCC and missing from
 * slim container images) into the prebuild folder, where their $ORIGIN run path finds it
 * before any system copy.
 */
function bundleRuntimeLibraries(dir) {
  if (process.platform !== 'linux') return;
  const bundled = new Set();
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.so'))) {
    const ldd = spawnSync('ldd', [join(dir, name)], { encoding: 'utf8' });
    for (const match of (ldd.stdout ?? '').matchAll(/^\s*(libgomp\.so\.\d+) => (\/\S+)/gm)) {
      if (bundled.has(match[1]) || dirname(match[2]) === dir) continue;
      copyFileSync(match[2], join(dir, match[1]));
      bundled.add(match[1]);
      process.stderr.write(`[llama-napi] bundled ${match[2]} as ${match[1]}\n`);
    }
  }
}

const options = {
  cwd: root,
  napi: true,
  strip: process.platform !== 'win32',
  tagLibc: process.platform === 'linux',
  targets: [{ runtime: 'node', target: process.versions.node }],
  nodeGyp: `"${process.execPath}" "${shim}"`,
  shell: true,
};
prebuildify(options, (error) => {
  if (error) {
    process.stderr.write(`prebuild failed: ${error.message ?? error}\n`);
    process.exit(1);
  }
  for (const file of findBackendFiles(folder).filter((f) => SEPARATE_BACKENDS.includes(f.backend))) {
    const dir = writeBackendPackage(file.backend, file.path, join(root, 'prebuilds', 'packages'));
    rmSync(file.path);
    process.stderr.write(`[llama-napi] ${file.backend} backend → ${dir} (publish it with npm publish)\n`);
  }
  keepOnlyOurLibraries(folder);
  bundleRuntimeLibraries(folder);
  process.stderr.write(`[llama-napi] prebuild ready in ${folder}\n`);
});
