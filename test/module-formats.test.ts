// The package from both module formats, as users get it: `require('llama-napi')` (dist/cjs/,
// CommonJS, on every Node >= 20.0: without require(esm)) and `import ... from 'llama-napi'`
// (dist/), both through package.json "exports" (self-reference), with types for both.
// Needs the built dist/ (scripts/build-ts.mjs, the first step of `npm test`); never loads the addon.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const consumers = join(root, 'test', 'fixtures', 'consumers');

// Without require(esm) (Node < 20.19 has none), so that the CommonJS build cannot lean on it.
const NO_REQUIRE_ESM = process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')
  ? ['--no-experimental-require-module']
  : [];

interface Report {
  exports: string[];
  entry: string | null;
  name: string;
  version: string;
}

/** Runs `node [args]` in the package root without tsx; the addon path points at no file. */
function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, LLAMA_NAPI_ADDON: join(root, 'test', 'no-such-addon.node') };
  delete env['NODE_OPTIONS'];
  const result = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function runConsumer(args: string[]): Report {
  const { status, stdout, stderr } = node(args);
  assert.equal(status, 0, `node ${args.join(' ')} failed:\n${stderr}`);
  return JSON.parse(stdout) as Report;
}

describe('module formats', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  let cjs: Report | undefined;
  let esm: Report | undefined;

  it('dist/ has both builds', () => {
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json']) {
      assert.ok(existsSync(join(root, file)), `${file} is missing: run node scripts/build-ts.mjs first`);
    }
  });

  it('each build finds the package root', () => {
    const cjsRoot = node(['-p', `require(${JSON.stringify(join(root, 'dist', 'cjs', 'package-root.js'))}).packageRoot`]);
    assert.equal(cjsRoot.status, 0, cjsRoot.stderr);
    assert.equal(cjsRoot.stdout.trim(), root);
    const esmRoot = node(['--input-type=module', '-e', `import { packageRoot } from ${JSON.stringify(join(root, 'dist', 'package-root.js'))}; console.log(packageRoot)`]);
    assert.equal(esmRoot.status, 0, esmRoot.stderr);
    assert.equal(esmRoot.stdout.trim(), root);
  });

  it('require() works from CommonJS, without require(esm)', () => {
    if (NO_REQUIRE_ESM.length > 0) {
      // The flag really does turn require(esm) off here: requiring the ES module build fails.
      const { status, stderr } = node([...NO_REQUIRE_ESM, '-e', `require(${JSON.stringify(join(root, 'dist', 'index.js'))})`]);
      assert.notEqual(status, 0);
      assert.match(stderr, /ERR_REQUIRE_ESM/);
    }
    cjs = runConsumer([...NO_REQUIRE_ESM, join(consumers, 'consumer.cjs')]);
    assert.equal(cjs.entry, join(root, 'dist', 'cjs', 'index.js'));
    assert.equal(cjs.name, 'llama-napi');
    assert.equal(cjs.version, pkg.version);
  });

  it('import works from an ES module', () => {
    esm = runConsumer([join(consumers, 'consumer.mjs')]);
    if (esm.entry !== null) assert.equal(esm.entry, join(root, 'dist', 'index.js'));
    assert.equal(esm.name, 'llama-napi');
    assert.equal(esm.version, pkg.version);
  });

  it('both entry points export the same names', () => {
    assert.ok(cjs && esm, 'the consumers did not run');
    assert.ok(cjs.exports.includes('loadModel'));
    assert.deepEqual(cjs.exports, esm.exports);
  });

  it('the declarations type-check CommonJS (.cts) and ES module (.mts) consumers', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const { status, stdout, stderr } = node([tsc, '-p', join(root, 'tsconfig.consumers.json'), '--listFiles']);
    assert.equal(status, 0, `tsc -p tsconfig.consumers.json failed:\n${stdout}${stderr}`);
    // 'llama-napi' resolved through "exports" to the built declarations of each format, not to lib/.
    const files = stdout.split('\n').map((line) => line.trim());
    assert.ok(files.includes(join(root, 'dist', 'cjs', 'index.d.ts')), 'types.cts did not get dist/cjs/index.d.ts');
    assert.ok(files.includes(join(root, 'dist', 'index.d.ts')), 'types.mts did not get dist/index.d.ts');
    assert.ok(!files.some((file) => file.startsWith(join(root, 'lib') + '/')), 'the consumers saw lib/ sources');
  });
});
