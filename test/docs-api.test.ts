// The committed API reference (docs/api/) is what `npm run docs` makes of the current TSDoc
// comments: scripts/docs.mjs regenerates it into a temporary folder and every file must match,
// none missing, none left over. The generator is deterministic (no source links, dates or
// versions), so a difference always means the code's documentation changed. ~5-10 s.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const committed = join(root, 'docs', 'api');
const generated = mkdtempSync(join(tmpdir(), 'llama-napi-docs-api-'));
after(() => rmSync(generated, { recursive: true, force: true }));

/** Every file under `dir`, as `/`-separated paths relative to it; none when `dir` is missing. */
function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (folder: string): void => {
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(dir, path).split(sep).join('/'), readFileSync(path, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

test('docs/api matches what `npm run docs` generates from the TSDoc comments', () => {
  const run = spawnSync(process.execPath, [join(root, 'scripts', 'docs.mjs'), '--out', generated], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(run.status, 0, `scripts/docs.mjs failed (${run.signal ?? `exit ${run.status}`}):\n${run.stdout}${run.stderr}`);

  const want = files(generated);
  const have = files(committed);
  assert.ok(want.size > 0, 'scripts/docs.mjs generated no files');
  const stale = [...want.keys()].filter((path) => have.has(path) && have.get(path) !== want.get(path));
  const missing = [...want.keys()].filter((path) => !have.has(path));
  const extra = [...have.keys()].filter((path) => !want.has(path));
  const problems = [
    ...stale.map((path) => `  stale:   docs/api/${path}`),
    ...missing.map((path) => `  missing: docs/api/${path}`),
    ...extra.map((path) => `  extra:   docs/api/${path} (no longer generated)`),
  ];
  assert.deepEqual(
    problems,
    [],
    `docs/api/ is out of date with the TSDoc comments in lib/ (${problems.length} files):\n${problems.join('\n')}\n` +
      'Run `npm run docs` and commit docs/api/.',
  );
});
