#!/usr/bin/env node
// `npm run prebuild`: prebuilds/<platform>-<arch>/ for this machine, made by prebuildify
// (--napi: one binary for every Node version with N-API 8; --strip; libc tag on Linux).
// prebuildify runs node-gyp, or what --node-gyp names: here scripts/node-gyp-shim.mjs, which
// ends in our one CMake build. prebuildify then copies the addon and every shared library of
// build/Release (libllama, libggml, the CPU variants, GPU backends) into the prebuild folder.
//
// GPU backends that are large or need a vendor runtime (cuda, vulkan) do not stay in the main
// package: they move to prebuilds/packages/<backend>-<platform>-<arch>/, an npm package
// (@llama-napi/<backend>-<platform>-<arch>) that the loader finds when it is installed.
//
// Defaults for a prebuild: every CPU variant llama.cpp defines (LLAMA_NAPI_CPU_VARIANTS=all)
// and the platform's default backend; both can be overridden through the environment.
import { rmSync } from 'node:fs';
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
  process.stderr.write(`[llama-napi] prebuild ready in ${folder}\n`);
});
