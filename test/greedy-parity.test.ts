// The library's sampling defaults are llama.cpp's, and `{ temperature: 0 }` alone is exactly
// llama.cpp's greedy decoding: the binding's output equals that of llama.cpp's own greedy
// example (examples/simple, built from the vendored tree into the addon's build directory, as
// the benchmark builds llama-bench), token for token, on a dense and a Mixtral-shaped model.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../lib/model.js';
import { GENERATE_DEFAULTS } from '../lib/options/generate.js';
import { quantize } from '../lib/quantize.js';
import { fixtureModel } from './fixtures/models.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const BUILD = join(REPO, 'build');
const COMMON_H = join(REPO, 'vendor', 'llama.cpp', 'common', 'common.h');
const PROMPT = 'The quick brown fox';
const TOKENS = 24;

describe("sampling defaults are llama.cpp's common_params_sampling", () => {
  it('match the pinned tree, field by field', (t) => {
    if (!existsSync(COMMON_H)) return t.skip(`no vendored llama.cpp at ${COMMON_H} (run npm install)`);
    const header = readFileSync(COMMON_H, 'utf8');
    const struct = /struct common_params_sampling \{([\s\S]*?)\n\};/.exec(header)?.[1];
    assert.ok(struct, 'common_params_sampling not found in common.h');
    const field = (name: string): number => {
      const m = new RegExp(`\\b${name}\\s*=\\s*([-0-9.]+)f?\\s*;`).exec(struct);
      assert.ok(m, `field ${name} not found`);
      return Number(m[1]);
    };
    assert.deepEqual(
      {
        temperature: GENERATE_DEFAULTS.temperature,
        topK: GENERATE_DEFAULTS.topK,
        topP: GENERATE_DEFAULTS.topP,
        minP: GENERATE_DEFAULTS.minP,
        repeatPenalty: GENERATE_DEFAULTS.repeatPenalty,
        repeatLastN: GENERATE_DEFAULTS.repeatLastN,
        frequencyPenalty: GENERATE_DEFAULTS.frequencyPenalty,
        presencePenalty: GENERATE_DEFAULTS.presencePenalty,
      },
      {
        temperature: field('temp'),
        topK: field('top_k'),
        topP: field('top_p'),
        minP: field('min_p'),
        repeatPenalty: field('penalty_repeat'),
        repeatLastN: field('penalty_last_n'),
        frequencyPenalty: field('penalty_freq'),
        presencePenalty: field('penalty_present'),
      },
    );
  });
});

/** Why llama-simple cannot be had here (the test is then skipped with this reason), or its path. */
function buildLlamaSimple(): { path: string } | { skip: string } {
  if (!existsSync(join(BUILD, 'CMakeCache.txt'))) return { skip: `no CMake build directory at ${BUILD} (a prebuild install): nothing to build llama-simple in` };
  if (spawnSync('cmake', ['--version']).status !== 0) return { skip: 'cmake is not on PATH' };
  const built = spawnSync('cmake', ['--build', BUILD, '--target', 'llama-simple'], { encoding: 'utf8' });
  // A failing build of a configured tree is a failure, never a skip.
  assert.equal(built.status, 0, `building llama-simple failed:\n${built.stdout.slice(-3000)}${built.stderr.slice(-3000)}`);
  const exe = process.platform === 'win32' ? 'llama-simple.exe' : 'llama-simple';
  const path = join(BUILD, 'Release', exe);
  assert.ok(existsSync(path), `llama-simple was built but is not at ${path}`);
  return { path };
}

/** llama-simple's greedy continuation of PROMPT: the text after the prompt, and its token count. */
function llamaSimple(exe: string, model: string): { text: string; tokens: number } {
  const run = spawnSync(exe, ['-m', model, '-n', String(TOKENS), '-ngl', '0', PROMPT], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, `llama-simple failed (${run.signal ?? run.status}):\n${run.stderr.slice(-3000)}`);
  // stdout: the prompt's pieces (with "<s>"), the generated pieces, then a newline.
  const start = run.stdout.indexOf(PROMPT);
  assert.ok(start >= 0 && run.stdout.endsWith('\n'), `unexpected llama-simple output: ${JSON.stringify(run.stdout)}`);
  const decoded = /decoded (\d+) tokens/.exec(run.stderr);
  assert.ok(decoded, `llama-simple did not report its token count:\n${run.stderr.slice(-2000)}`);
  return { text: run.stdout.slice(start + PROMPT.length, -1), tokens: Number(decoded[1]) };
}

/** The binding's continuation with nothing but `temperature: 0`. */
async function binding(path: string): Promise<{ text: string; tokens: number }> {
  const model = await loadModel(path);
  try {
    const context = await model.createContext({ contextSize: 256 });
    const result = await context.generate(PROMPT, { temperature: 0, maxTokens: TOKENS }).result;
    return { text: result.text, tokens: result.tokens.length };
  } finally {
    await model.dispose();
  }
}

describe("temperature 0 is llama.cpp's greedy", () => {
  let simple: { path: string } | { skip: string };
  let dir: string;
  before(async () => {
    simple = buildLlamaSimple();
    dir = await mkdtemp(join(tmpdir(), 'llama-napi-greedy-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const fixtures: Array<[string, () => Promise<string>]> = [
    ['dense F16', () => fixtureModel({ kind: 'llama', type: 'F16' })],
    [
      'Mixtral-shaped Q4_K_M',
      async () => {
        const f16 = await fixtureModel({ kind: 'moe', type: 'F16', embeddingLength: 256, feedForwardLength: 256, headCount: 4, headCountKv: 2 });
        const out = join(dir, 'moe-Q4_K_M.gguf');
        await quantize(f16, out, { type: 'Q4_K_M' });
        return out;
      },
    ],
  ];
  for (const [name, make] of fixtures) {
    it(`${name}: the same ${TOKENS} tokens as llama-simple`, async (t) => {
      if ('skip' in simple) return t.skip(simple.skip);
      const path = await make();
      const want = llamaSimple(simple.path, path);
      const got = await binding(path);
      assert.equal(want.tokens, TOKENS, 'llama-simple stopped early: the comparison needs the full length');
      assert.deepEqual(got, want);
    });
  }
});
