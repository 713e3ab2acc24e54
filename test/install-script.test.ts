/**
 * npm's install step (scripts/install.mjs) decides between the ready-made addon and a source
 * build. The builds themselves are exercised by .ci/install-check.sh; here, the decisions: an
 * addon that loads is used as it is, LLAMA_NAPI_BUILD=prebuild refuses to build, and a bad
 * LLAMA_NAPI_BUILD value is an error, all without compiling anything.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getBuildInfo } from '../lib/build-info.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Runs a package folder's install script with the given LLAMA_NAPI_BUILD. */
function install(root: string, build: string | undefined): { status: number | null; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['LLAMA_NAPI_BUILD'];
  delete env['npm_config_llama_napi_build'];
  if (build !== undefined) env['LLAMA_NAPI_BUILD'] = build;
  const result = spawnSync(process.execPath, [join(root, 'scripts', 'install.mjs')], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stderr: result.stderr };
}

describe('install script', () => {
  let pkg: string;

  before(() => {
    // A copy of the package with its install scripts and no addon at all.
    pkg = mkdtempSync(join(tmpdir(), 'llama-napi-install-'));
    cpSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(REPO_ROOT, 'scripts'), join(pkg, 'scripts'), { recursive: true });
    mkdirSync(join(pkg, 'node_modules'));
    symlinkSync(join(REPO_ROOT, 'node_modules', 'node-gyp-build'), join(pkg, 'node_modules', 'node-gyp-build'));
  });

  after(() => rmSync(pkg, { recursive: true, force: true }));

  it('rejects an unknown LLAMA_NAPI_BUILD value', () => {
    const result = install(REPO_ROOT, 'sometimes');
    assert.equal(result.status, 1);
    assert.match(result.stderr, /LLAMA_NAPI_BUILD=sometimes: expected "source" \(always build\) or "prebuild" \(never build\)/);
  });

  it('keeps a local build that loads', () => {
    const result = install(REPO_ROOT, undefined);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /using the (locally built|prebuilt) addon/);
  });

  it('with no addon and LLAMA_NAPI_BUILD=prebuild, fails instead of building', () => {
    const result = install(pkg, 'prebuild');
    assert.equal(result.status, 1);
    assert.match(result.stderr, /no prebuilt binary for \S+ in this package, and no earlier build, and LLAMA_NAPI_BUILD=prebuild forbids a source build/);
  });

  it('uses a prebuild for this platform that loads, without building', () => {
    const built = dirname(getBuildInfo().addonPath);
    const folder = join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(folder, { recursive: true });
    for (const name of readdirSync(built)) {
      if (/\.node$|^lib(llama-napi-|ggml-)/.test(name)) cpSync(join(built, name), join(folder, name.endsWith('.node') ? 'llama-napi.node' : name));
    }
    const result = install(pkg, 'prebuild');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /using the prebuilt addon .*prebuilds/);
  });
});
