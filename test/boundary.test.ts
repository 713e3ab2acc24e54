// The native boundary, checked from the source: the policy modules (option validation, the
// sampler chain, chat formatting, errors, the GGUF reader) never load the addon, so they and
// their tests run without a build; lib/native.ts is a contract of types, and only lib/addon.ts
// loads the addon. A static check, so that an import added anywhere shows up here at once.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const LIB = fileURLToPath(new URL('../lib/', import.meta.url));

/** Policy modules: none of them may reach the addon loader through value imports. */
const POLICY = [
  'validate.ts',
  'errors.ts',
  'sampling.ts',
  'chat-template.ts',
  'text-stream.ts',
  'memory-limits.ts',
  ...readdirSync(join(LIB, 'options')).map((f) => `options/${f}`),
  ...readdirSync(join(LIB, 'gguf')).map((f) => `gguf/${f}`),
];

/** Relative modules a file imports at run time (`import type` and `export type` are erased). */
function valueImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of source.matchAll(/^(import|export)\s+(type\s+)?[^;]*?\bfrom\s+'(\.[^']+)'/gms)) {
    if (m[2]) continue;
    const specifier = m[3]!;
    out.push(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
  }
  for (const m of source.matchAll(/^import\s+'(\.[^']+)'/gm)) out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  return out;
}

/** Every module `entry` reaches through value imports, as paths relative to lib/. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [join(LIB, entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    const name = relative(LIB, file);
    if (seen.has(name)) continue;
    seen.add(name);
    todo.push(...valueImports(file));
  }
  return seen;
}

describe('native boundary', () => {
  for (const module of POLICY) {
    it(`${module} does not load the addon`, () => {
      const reached = reachable(module);
      assert.ok(!reached.has('addon.ts'), `${module} reaches lib/addon.ts through: ${[...reached].join(', ')}`);
    });
  }

  it('lib/native.ts declares types only', () => {
    const source = readFileSync(join(LIB, 'native.ts'), 'utf8');
    assert.deepEqual(valueImports(join(LIB, 'native.ts')), [], 'no run-time imports');
    assert.doesNotMatch(source, /\brequire\(|^export (async )?function /m, 'no loader code');
  });

  it('only lib/addon.ts requires the addon', () => {
    const files = readdirSync(LIB, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const loaders = files.filter((f) => /node-gyp-build|\.node['"]/.test(readFileSync(join(LIB, f), 'utf8')));
    assert.deepEqual(loaders, ['addon.ts']);
  });

  it("the addon's error codes (src/error_codes.h) are all in lib/errors.ts's list", async () => {
    const header = readFileSync(fileURLToPath(new URL('../src/error_codes.h', import.meta.url)), 'utf8');
    const native = [...header.matchAll(/inline constexpr char \w+\[\] = "([A-Z_]+)";/g)].map((m) => m[1]!);
    assert.ok(native.length >= 10, `read ${native.length} codes from error_codes.h`);
    const { ERROR_CODES } = await import('../lib/errors.js');
    assert.deepEqual(
      native.filter((code) => !(ERROR_CODES as readonly string[]).includes(code)),
      [],
      'codes the addon raises but lib/errors.ts does not know',
    );
    const literals = readdirSync(fileURLToPath(new URL('../src/', import.meta.url)))
      .filter((f) => f !== 'error_codes.h')
      .filter((f) => /"ERR_[A-Z_]+"/.test(readFileSync(fileURLToPath(new URL(`../src/${f}`, import.meta.url)), 'utf8')));
    assert.deepEqual(literals, [], 'C++ files that spell a code instead of using error_codes.h');
  });

  it('the pure modules import without an addon', async () => {
    // The module graph above, at run time: importing them must not touch a binary at all.
    for (const module of POLICY) await import(join(LIB, module));
  });
});
