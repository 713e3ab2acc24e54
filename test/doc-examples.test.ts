// Every JavaScript and TypeScript example in the user documentation runs, as a user would run
// it, against a small generated model.
//
// Which blocks: fenced code blocks in README.md, docs/*.md and docs/guides/*.md whose language
// is `js`, `mjs` or `javascript` (run as an ES module), `cjs` (CommonJS), or `ts`, `mts` or
// `typescript` (run with tsx, which also compiles `await using` down for Node 20). Anything else
// (`sh`, `text`, …) is not run. The generated API reference (docs/api/) is not scanned.
//
// How a block runs: written to .cache/doc-examples/<file>-L<line>/example.<ext> (inside the
// repository, so `import … from 'llama-napi'` resolves through package.json "exports" to the
// built dist/, as in a user's project), run in a child process with that folder as its working
// directory and a time limit. It must exit 0 and write nothing to stderr; it may print to stdout.
//
// Model paths: the first string literal ending in `.gguf` in a block (e.g.
// './mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf') is replaced, everywhere in the block, by the path
// of a generated fixture model (test/fixtures/models.ts): a Mixtral-shaped MoE, Q8_0, with the
// real vocabulary and Mixtral's chat template, and random weights (the text is gibberish; the
// mechanics are real). Other `.gguf` literals stay as written: they name files the example
// writes, in its own fresh working folder (e.g. the output of quantize()).
//
// An HTML comment on the line before a block (blank lines between are allowed) changes that:
//   <!-- doc-test: skip (needs a GPU) -->   not run; reported as skipped with the reason
//   <!-- doc-test: fixture moe F16 -->      another fixture: llama|moe and F32|F16|Q8_0
//   <!-- doc-test: fixture none -->         no path replaced (e.g. an example about a missing file)
//
// Plain JavaScript blocks must not use `await using`: it is a SyntaxError on Node 20 and 22
// (package.json allows Node >= 20). Use try/finally with `await model.dispose()`, or mark the
// block `ts`.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { before, describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixtureModel, type FixtureSpec } from './fixtures/models.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const workDir = join(root, '.cache', 'doc-examples');
/** Per example; the slowest (a JSON-schema grammar over the 32k vocabulary) takes a few seconds. */
const TIMEOUT_MS = 90_000;
/** Examples run at once; each is mostly process start and model load. */
const CONCURRENCY = Number(process.env['DOC_EXAMPLES_CONCURRENCY'] ?? 2);
const DEFAULT_FIXTURE: FixtureSpec = { kind: 'moe', type: 'Q8_0' };

type Runner = 'mjs' | 'cjs' | 'mts';
const RUNNERS: Record<string, Runner> = {
  js: 'mjs',
  javascript: 'mjs',
  mjs: 'mjs',
  cjs: 'cjs',
  ts: 'mts',
  typescript: 'mts',
  mts: 'mts',
};

interface Example {
  /** Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  runner: Runner;
  code: string;
  /** Why it is not run, from a `skip` directive. */
  skip?: string;
  /** The model the first `.gguf` literal becomes; null: no replacement. */
  fixture: FixtureSpec | null;
}

/** README.md, docs/*.md and docs/guides/*.md, in a stable order. */
function docFiles(): string[] {
  const list = (dir: string): string[] =>
    existsSync(join(root, dir))
      ? readdirSync(join(root, dir))
          .filter((name) => name.endsWith('.md'))
          .sort()
          .map((name) => (dir === '.' ? name : `${dir}/${name}`))
      : [];
  return ['README.md', ...list('docs'), ...list('docs/guides')];
}

const DIRECTIVE = /^\s*<!--\s*doc-test:\s*(.*?)\s*-->\s*$/;

function parseDirective(text: string, where: string): Pick<Example, 'skip' | 'fixture'> {
  const skip = /^skip\b\s*[:(]?\s*(.*?)\)?$/.exec(text);
  if (skip) return { skip: skip[1] || 'marked skip', fixture: DEFAULT_FIXTURE };
  if (text === 'fixture none') return { fixture: null };
  const fixture = /^fixture\s+(llama|moe)\s+(F32|F16|Q8_0)$/.exec(text);
  if (fixture) return { fixture: { kind: fixture[1] as FixtureSpec['kind'], type: fixture[2] as FixtureSpec['type'] } };
  throw new Error(
    `${where}: unknown directive <!-- doc-test: ${text} -->; expected "skip (reason)", "fixture <llama|moe> <F32|F16|Q8_0>" or "fixture none"`,
  );
}

/** The runnable fenced blocks of one Markdown file. */
function parseExamples(file: string): Example[] {
  const lines = readFileSync(join(root, file), 'utf8').split(/\r?\n/);
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    let end = i + 1;
    while (end < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[end]!)) end++;
    const runner = RUNNERS[info.toLowerCase()];
    if (runner !== undefined) {
      let previous = i - 1;
      while (previous >= 0 && lines[previous]!.trim() === '') previous--;
      const directive = previous >= 0 ? DIRECTIVE.exec(lines[previous]!) : null;
      const where = `${file}:${i + 1}`;
      const code = lines
        .slice(i + 1, end)
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
        .join('\n');
      examples.push({
        file,
        line: i + 1,
        runner,
        code: `${code}\n`,
        ...(directive ? parseDirective(directive[1]!, where) : { fixture: DEFAULT_FIXTURE }),
      });
    }
    i = end;
  }
  return examples;
}

const GGUF_LITERAL = /(['"`])((?:(?!\1)[^\\\n])*\.gguf)\1/g;

/** The block's code with its first `.gguf` literal (every occurrence of it) replaced by `modelPath`. */
function substituteModel(code: string, modelPath: string | null): string {
  if (modelPath === null) return code;
  const first = GGUF_LITERAL.exec(code)?.[2];
  GGUF_LITERAL.lastIndex = 0;
  if (first === undefined) return code;
  return code.replace(GGUF_LITERAL, (literal, _quote: string, value: string) => (value === first ? JSON.stringify(modelPath) : literal));
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ unless it is newer than every file of lib/ (`npm test` has just built it). */
function ensureBuilt(): void {
  const entry = join(root, 'dist', 'index.js');
  const cjsEntry = join(root, 'dist', 'cjs', 'index.js');
  const built = existsSync(entry) && existsSync(cjsEntry) ? Math.min(statSync(entry).mtimeMs, statSync(cjsEntry).mtimeMs) : 0;
  if (built > newestMtime(join(root, 'lib'))) return;
  const run = spawnSync(process.execPath, [join(root, 'scripts', 'build-ts.mjs')], { cwd: root, encoding: 'utf8' });
  assert.equal(run.status, 0, `scripts/build-ts.mjs failed:\n${run.stdout}${run.stderr}`);
}

const fixtureKey = (spec: FixtureSpec): string => `${spec.kind}/${spec.type}`;

interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runExample(folder: string, file: string, runner: Runner): Promise<RunResult> {
  const args = runner === 'mts' ? ['--import', 'tsx', file] : [file];
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  delete env['NODE_OPTIONS'];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: folder, env, timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 << 20, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number | string; signal?: string | null; killed?: boolean }) | null;
        resolve({
          code: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null,
          signal: failure?.signal ?? null,
          stdout,
          stderr,
          timedOut: failure?.killed === true && failure.signal === 'SIGKILL',
        });
      },
    );
  });
}

function numbered(code: string): string {
  return code
    .trimEnd()
    .split('\n')
    .map((line, i) => `${String(i + 1).padStart(3)} | ${line}`)
    .join('\n');
}

const examples = docFiles().flatMap(parseExamples);

test('the documentation has runnable examples, README.md included', () => {
  assert.ok(examples.length >= 20, `found only ${examples.length} runnable examples; is the fence parser broken?`);
  assert.ok(
    examples.some((example) => example.file === 'README.md' && example.skip === undefined && example.runner !== 'mts'),
    'README.md needs at least one plain JavaScript example that is run',
  );
});

test('plain JavaScript examples do not use `await using` (a SyntaxError on Node 20 and 22)', () => {
  const offenders = examples
    .filter((example) => example.runner !== 'mts' && /\b(?:await\s+)?using\s+[A-Za-z_$][\w$]*\s*=/.test(example.code))
    .map((example) => `${example.file}:${example.line}`);
  assert.deepEqual(
    offenders,
    [],
    'use try/finally with `await model.dispose()`, or mark the block ```ts and say it needs TypeScript or Node >= 24',
  );
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings (outside code blocks), duplicates numbered as GitHub does. */
function anchors(path: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fence: string | null = null;
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker !== undefined && (fence === null || marker.startsWith(fence))) {
      fence = fence === null ? marker : null;
      continue;
    }
    const heading = fence === null ? /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1] : undefined;
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  return out;
}

test('links between the documentation pages point at files and headings that exist', () => {
  const broken: string[] = [];
  for (const file of docFiles()) {
    const text = readFileSync(join(root, file), 'utf8').replace(/^ {0,3}(`{3,}|~{3,})[^]*?^ {0,3}\1/gm, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue; // http:, https:, mailto:
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const resolved = path === '' ? join(root, file) : join(root, dirname(file), path);
      if (!existsSync(resolved)) broken.push(`${file}: ${target} (no such file)`);
      else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) {
        broken.push(`${file}: ${target} (no such heading)`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

describe('documentation examples', { concurrency: CONCURRENCY }, () => {
  const models = new Map<string, string>();

  before(async () => {
    ensureBuilt();
    rmSync(workDir, { recursive: true, force: true });
    for (const example of examples) {
      if (example.skip !== undefined || example.fixture === null) continue;
      const key = fixtureKey(example.fixture);
      if (!models.has(key)) models.set(key, await fixtureModel(example.fixture));
    }
  });

  for (const example of examples) {
    const name = `${example.file}:${example.line} (${example.runner === 'mts' ? 'ts' : 'js'})`;
    it(name, { skip: example.skip }, async () => {
      const modelPath = example.fixture === null ? null : models.get(fixtureKey(example.fixture))!;
      const slug = `${example.file.replace(/\.md$/, '').split(/[/\\]/).join('-')}-L${example.line}`;
      const folder = join(workDir, slug);
      mkdirSync(folder, { recursive: true });
      const fileName = `example.${example.runner}`;
      writeFileSync(join(folder, fileName), substituteModel(example.code, modelPath));
      const result = await runExample(folder, fileName, example.runner);
      const report =
        `${name}, run as ${relative(root, join(folder, fileName)).split(sep).join('/')}` +
        `${modelPath ? ` with ${relative(root, modelPath)}` : ''}:\n${numbered(example.code)}\n` +
        `--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
      assert.ok(!result.timedOut, `timed out after ${TIMEOUT_MS / 1000} s: ${report}`);
      assert.equal(result.signal, null, `killed by ${result.signal}: ${report}`);
      assert.equal(result.code, 0, `exited with ${result.code}: ${report}`);
      assert.equal(result.stderr, '', `wrote to stderr (examples must not print noise): ${report}`);
    });
  }
});
