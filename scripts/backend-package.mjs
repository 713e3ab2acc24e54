#!/usr/bin/env node
// Makes the npm package that ships one GPU backend library for one platform:
// @llama-napi/<backend>-<platform>-<arch>, with the library under lib/. The loader
// (lib/backends.ts) finds it when installed, and only uses it when its version is exactly
// llama-napi's own: a backend library only fits the ggml it was built with.
//
//   node scripts/backend-package.mjs <backend> <library file> <output folder>
// scripts/prebuild.mjs calls writeBackendPackage() for the GPU backends of a prebuild.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendPackageName } from '../dist/backends.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Writes the package folder into `outParent` and returns its path. */
export function writeBackendPackage(backend, library, outParent) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const name = backendPackageName(backend);
  const dir = join(outParent, name.replace('@llama-napi/', ''));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'lib'), { recursive: true });
  copyFileSync(library, join(dir, 'lib', basename(library)));
  const manifest = {
    name,
    version: pkg.version,
    description: `The ${backend} backend of llama-napi@${pkg.version} for ${process.platform}-${process.arch}`,
    license: pkg.license,
    os: [process.platform],
    cpu: [process.arch],
    files: ['lib'],
    peerDependencies: { 'llama-napi': pkg.version },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [backend, library, outParent] = process.argv.slice(2);
  if (!backend || !library || !outParent) {
    process.stderr.write('usage: node scripts/backend-package.mjs <backend> <library file> <output folder>\n');
    process.exit(2);
  }
  process.stdout.write(`${writeBackendPackage(backend, resolve(library), resolve(outParent))}\n`);
}
