#!/usr/bin/env node
// Builds the TypeScript layer twice, for both module formats of package.json "exports":
//   dist/      ES modules   (tsconfig.json)      — the `import` condition
//   dist/cjs/  CommonJS     (tsconfig.cjs.json)  — the `require` condition, and "main"
// dist/cjs/ gets a package.json {"type":"commonjs"} (the root one says "module"), and its
// package-root.js is replaced with lib/cjs/package-root.cjs: the ES module version reads
// import.meta.url, which CommonJS cannot. Every CommonJS output is then compiled as CommonJS
// (without running it) so that anything else ES-module-only fails the build, not a user's require().
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFunction } from 'node:vm';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cjsDir = join(root, 'dist', 'cjs');
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');

function build(project) {
  execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
}

function jsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return jsFiles(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
}

try {
  build('tsconfig.json');
  rmSync(cjsDir, { recursive: true, force: true });
  build('tsconfig.cjs.json');
  writeFileSync(join(cjsDir, 'package.json'), '{\n  "type": "commonjs"\n}\n');
  copyFileSync(join(root, 'lib', 'cjs', 'package-root.cjs'), join(cjsDir, 'package-root.js'));
  rmSync(join(cjsDir, 'package-root.js.map'), { force: true });
  for (const file of jsFiles(cjsDir)) {
    try {
      compileFunction(readFileSync(file, 'utf8'), ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
    } catch (error) {
      throw new Error(
        `${relative(root, file)} is not valid CommonJS (${error.message}); ` +
          'module-format specifics (import.meta) belong in lib/package-root.ts and lib/cjs/package-root.cjs',
      );
    }
  }
} catch (error) {
  // tsc has already printed its diagnostics; its own failure is just "Command failed".
  process.stderr.write(`[llama-napi build-ts] ${error.status !== undefined ? 'tsc failed' : error.message}\n`);
  process.exit(1);
}
