/**
 * `llama-napi` as a child process without a terminal (pipes): text on stdout, diagnostics on
 * stderr, `--json` parsed, exit codes, the model card's exact command line, usage errors,
 * `inspect` and `estimate` against the library's own figures, and the memory refusal.
 * Runs bin/llama-napi.mjs, which imports dist/: `npm test` builds first (a stale dist fails
 * here with the command to run).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { estimateMemory, loadModel, type GenerateOptions } from '../lib/index.js';
import { describeCli, runCli, staleBuild } from './child/cli-spawn.js';
import { fixtureModel } from './fixtures/models.js';

/** The card's file name, so the card's command line runs exactly as printed. */
const CARD_FILE = 'mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf';
/** Mixtral's card: `./main -ngl 35 -m … --color -c 32768 --temp 0.7 --repeat_penalty 1.1 -n -1 -p "[INST] {prompt} [/INST]"`. */
const cardLine = (n: string, c = '32768') => ['run', '-ngl', '35', '-m', CARD_FILE, '--color', '-c', c, '--temp', '0.7', '--repeat_penalty', '1.1', '-n', n, '-p', '[INST] {prompt} [/INST]'];

let dir: string;
let model: string;

before(async () => {
  const stale = staleBuild();
  if (stale) throw new Error(stale);
  dir = mkdtempSync(join(tmpdir(), 'llama-napi-cli-'));
  // A Mixtral-shaped fixture whose trained context is the card's 32768.
  model = join(dir, CARD_FILE);
  copyFileSync(await fixtureModel({ kind: 'moe', type: 'Q8_0', contextLength: 32768 }), model);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function ok(args: string[], input?: string) {
  const o = await runCli(args, { cwd: dir, ...(input === undefined ? {} : { input }) });
  assert.equal(o.code, 0, describeCli(o));
  return o;
}

async function fails(args: string[], code: number, stderr: RegExp) {
  const o = await runCli(args, { cwd: dir });
  assert.equal(o.code, code, describeCli(o));
  assert.match(o.stderr, stderr, describeCli(o));
  assert.equal(o.stdout, '', 'nothing on stdout when a command fails');
  return o;
}

describe('llama-napi run (pipes)', () => {
  it('runs the model card\'s command line as printed: text on stdout, timings on stderr', async () => {
    const o = await ok(cardLine('16'));
    assert.ok(o.stdout.length > 0, 'generated text on stdout');
    assert.doesNotMatch(o.stdout, /llama-napi|t\/s|\x1b\[/, 'stdout is the text alone: no diagnostics, no colour on a pipe');
    assert.doesNotMatch(o.stdout, /\[INST\]/, 'the prompt is not echoed to a pipe');
    assert.match(o.stderr, /context 32768 tokens/);
    assert.match(o.stderr, /prompt \d+ tokens .* prompt t\/s/);
    assert.match(o.stderr, /gen 16 tokens, [\d.]+ gen t\/s/);
  });

  it('-n -1 runs until end of generation or a full context (bounded by a small -c), --json at the end', async () => {
    const o = await ok([...cardLine('-1', '256'), '--json']);
    const result = JSON.parse(o.stdout);
    assert.equal(o.stdout.trim().split('\n').length, 1, 'one JSON object, nothing else on stdout');
    assert.ok(['length', 'eog'].includes(result.finishReason), result.finishReason);
    assert.ok(result.promptTokens + result.generatedTokens <= 256);
    if (result.finishReason === 'length') assert.equal(result.promptTokens + result.generatedTokens, 256);
    assert.equal(typeof result.text, 'string');
    assert.equal(result.tokens.length, result.generatedTokens);
    for (const key of ['loadMs', 'totalMs', 'promptTokensPerSecond', 'generationTokensPerSecond']) assert.equal(typeof result.timings[key], 'number', key);
  });

  it('flags reach the library: the same tokens as the library called with the mapped options', async () => {
    const prompt = '[INST] Count [/INST]';
    const cases: Array<[string[], GenerateOptions]> = [
      [['--temp', '0'], { temperature: 0 }],
      [['-s', '7'], { seed: 7 }], // no sampling flags: llama.cpp's (the library's) defaults
      [['--preset', 'mixtral', '-s', '7'], { temperature: 0.7, repeatPenalty: 1.1, seed: 7 }],
      [['--temp', '0.7', '--repeat_penalty', '1.1', '-s', '7', '--top-k', '5', '--min-p', '0.1'], { temperature: 0.7, repeatPenalty: 1.1, seed: 7, topK: 5, minP: 0.1 }],
    ];
    const m = await loadModel(model);
    try {
      const ctx = await m.createContext({ contextSize: 256 });
      for (const [flags, options] of cases) {
        const o = await ok(['run', '-m', CARD_FILE, '-c', '256', '-n', '12', '-p', prompt, '--json', ...flags]);
        const expected = await ctx.generate(prompt, { ...options, maxTokens: 12, cachePrompt: false }).result;
        assert.deepEqual(JSON.parse(o.stdout).tokens, expected.tokens, flags.join(' '));
      }
    } finally {
      await m.dispose();
    }
  });

  it('-f reads the prompt from a file; -sys formats it as a chat turn', async () => {
    writeFileSync(join(dir, 'prompt.txt'), 'Hello there');
    const plain = JSON.parse((await ok(['run', '-m', CARD_FILE, '-c', '256', '-n', '2', '-f', 'prompt.txt', '--json'])).stdout);
    const chat = JSON.parse((await ok(['run', '-m', CARD_FILE, '-c', '256', '-n', '2', '-f', 'prompt.txt', '-sys', 'Be brief.', '--json'])).stdout);
    assert.ok(chat.promptTokens > plain.promptTokens + 4, `${chat.promptTokens} vs ${plain.promptTokens}: [INST] and the system text were added`);
    await fails(['run', '-m', CARD_FILE, '-f', 'nope.txt'], 1, /-f nope\.txt: cannot read the file \(ENOENT\)/);
  });

  it('-i without a terminal: one message per line, /clear, end of input exits 0', async () => {
    const o = await ok(['run', '-m', CARD_FILE, '-c', '256', '-n', '4', '-i', '-sys', 'Be brief.'], 'Hello\n/clear\nAgain\n');
    assert.equal(o.stdout.split('\n').filter(Boolean).length <= 2, true, 'two replies, no prompts on a pipe');
    assert.match(o.stderr, /\(conversation cleared\)/);
  });
});

describe('llama-napi usage errors and failures', () => {
  it('an unknown flag names it and the closest known one (exit 2)', async () => {
    await fails(['run', '-m', CARD_FILE, '--repeat_penatly', '1.1', '-p', 'x'], 2, /unknown flag --repeat_penatly; did you mean --repeat-penalty\?/);
  });

  it('a flag missing its value says so (exit 2)', async () => {
    await fails(['run', '-m', CARD_FILE, '-p'], 2, /-p needs a value \(TEXT\)/);
    await fails(['run', '-m', CARD_FILE, '-n', 'many', '-p', 'x'], 2, /-n expects an integer, got "many"/);
  });

  it('the library\'s range errors are worded with the flag (exit 2)', async () => {
    await fails(['run', '-m', CARD_FILE, '-c', '99999', '-p', 'x'], 2, /invalid -c \(contextSize\): expected an integer in \[1, 32768\], got 99999/);
  });

  it('no prompt, unknown command, stray argument (exit 2)', async () => {
    await fails(['run', '-m', CARD_FILE], 2, /no prompt/);
    await fails(['rnu'], 2, /unknown command "rnu"; did you mean run\?/);
    await fails(['run', '-m', CARD_FILE, 'hello'], 2, /unexpected argument "hello"/);
  });

  it('a model that does not exist (exit 1)', async () => {
    await fails(['run', '-m', 'missing.gguf', '-p', 'x'], 1, /model file not found: missing\.gguf/);
    await fails(['inspect', 'missing.gguf'], 1, /model file not found/);
  });

  it('a file that is not a GGUF model (exit 1)', async () => {
    writeFileSync(join(dir, 'notes.gguf'), 'not a model at all, just text');
    await fails(['inspect', 'notes.gguf'], 1, /cannot read notes\.gguf: ERR_/);
    await fails(['run', '-m', 'notes.gguf', '-p', 'x'], 1, /cannot read notes\.gguf/);
  });

  it('hub references: pull, run -m and -hf find a cached model without the network; a missing one fails (exit 1)', async () => {
    // A Hugging Face cache as huggingface_hub lays it out, holding one repository.
    const cache = join(dir, 'hf-cache');
    const commit = 'c0ffee'.padEnd(40, '0');
    const repo = join(cache, 'models--example-org--tiny-mixtral-GGUF');
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), commit);
    mkdirSync(join(repo, 'snapshots', commit), { recursive: true });
    const cached = join(repo, 'snapshots', commit, 'tiny-mixtral.Q8_0.gguf');
    copyFileSync(model, cached);
    const env = { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1', HF_TOKEN: '' };

    const pulled = await runCli(['pull', 'example-org/tiny-mixtral-GGUF:Q8_0'], { cwd: dir, env });
    assert.equal(pulled.code, 0, describeCli(pulled));
    assert.equal(pulled.stdout, `${cached}\n`, 'the local path on stdout');
    for (const source of [['-m', 'example-org/tiny-mixtral-GGUF:Q8_0'], ['-m', 'hf:example-org/tiny-mixtral-GGUF:Q8_0'], ['-hf', 'example-org/tiny-mixtral-GGUF:Q8_0']]) {
      const o = await runCli(['run', ...source, '-c', '256', '-n', '2', '-p', 'x'], { cwd: dir, env });
      assert.equal(o.code, 0, describeCli(o));
      assert.ok(o.stderr.includes(`loaded ${cached}`), describeCli(o));
    }
    for (const args of [['pull', 'example-org/no-such-model:Q4_K_M'], ['run', '-m', 'example-org/no-such-model:Q4_K_M', '-p', 'x']]) {
      const o = await runCli(args, { cwd: dir, env });
      assert.equal(o.code, 1, describeCli(o));
      assert.equal(o.stdout, '');
      assert.match(o.stderr, /ERR_NOT_FOUND: .*not in the cache/);
    }
  });
});

describe('llama-napi inspect, estimate, info, help', () => {
  it('inspect reads the header without loading, and agrees with the loaded model', async () => {
    const facts = JSON.parse((await ok(['inspect', CARD_FILE, '--json'])).stdout);
    const m = await loadModel(model);
    try {
      const i = m.info;
      assert.equal(facts.architecture, i.architecture);
      assert.equal(facts.parameterCount, i.parameterCount);
      assert.equal(facts.fileType, 'Q8_0');
      assert.equal(facts.fileTypeDescription, i.quantization);
      assert.equal(facts.dominantTensorType, 'Q8_0');
      for (const k of ['expertCount', 'expertUsedCount', 'layerCount', 'trainedContextLength', 'embeddingLength', 'headCount', 'headCountKv', 'vocabularySize'] as const) {
        assert.equal(facts[k], i[k], k);
      }
      assert.equal(facts.hasChatTemplate, i.chatTemplate !== null);
      assert.deepEqual([facts.expertCount, facts.expertUsedCount, facts.trainedContextLength, facts.vocabularySize], [8, 2, 32768, 32000]);
    } finally {
      await m.dispose();
    }
    const text = (await ok(['inspect', CARD_FILE, '--tensors'])).stdout;
    assert.match(text, /experts +8, 2 used per token/);
    assert.match(text, /quantisation +Q8_0 \(Q8_0\); mostly Q8_0/);
    assert.match(text, /blk\.0\.ffn_gate_exps\.weight +Q8_0 +\[64, 64, 8\]/);
  });

  it('estimate gives the library\'s figures: KV cache by its formula, weights, fits', async () => {
    const o = await ok(['estimate', '-m', CARD_FILE, '-c', '256', '-ngl', '35', '--json']);
    const e = JSON.parse(o.stdout);
    // 256 cells × 2 layers × (K + V: 2 × 2 KV heads × 16 dims) × 2 bytes (f16).
    assert.equal(e.host.kvCache, 256 * 2 * (2 * 2 * 16) * 2);
    const library = await estimateMemory(model, { gpuLayers: 35, context: { contextSize: 256 } });
    assert.equal(e.host.weights, library.host.weights);
    assert.equal(e.host.compute, library.host.compute);
    assert.equal(e.maxRamRequired, library.host.total);
    assert.equal(e.fits, true);
    assert.equal(e.mappedWeights, e.host.weights, 'mapped weights are counted as paging from disk');
    const text = (await ok(['estimate', CARD_FILE, '-c', '256'])).stdout;
    assert.match(text, /max RAM required: [\d.]+ MiB, of which [\d.]+ MiB mapped weights/);
    assert.match(text, /fits: yes/);
  });

  it('a model that cannot fit is refused before loading, with what would fit (exit 1)', async () => {
    // 8 KiB of KV cache per token (8 layers × 256 × K,V × f16): a trained length a power of
    // two above 1.5 × this machine's free memory cannot fit with -c 0.
    const contextLength = 2 ** Math.ceil(Math.log2((1.5 * freemem()) / 8192));
    const big = await fixtureModel({ kind: 'llama', type: 'Q8_0', embeddingLength: 256, headCount: 4, headCountKv: 4, layerCount: 8, contextLength });
    const o = await fails(['run', '-m', big, '-c', '0', '-p', 'x'], 1, /does not fit in memory with -c \d+ -ngl 0; not loading it/);
    assert.match(o.stderr, /host RAM: needs [\d.]+ GiB .* free/);
    assert.match(o.stderr, /would fit: -c \d+/);
    assert.doesNotMatch(o.stderr, /loaded/);
    const e = JSON.parse((await ok(['estimate', big, '-c', '0', '--json'])).stdout);
    assert.equal(e.fits, false);
    assert.match(e.suggestions[0], /^-c \d+$/);
  });

  it('info is unchanged; no command means info', async () => {
    const info = await ok(['info']);
    assert.match(info.stdout, /^llama-napi \d+\.\d+\.\d+\nllama\.cpp  .*, commit [0-9a-f]{40}\naddon      .*\ncpu        variant .*\nbackends\n  loaded   CPU/);
    assert.equal((await ok([])).stdout.split('\n').slice(0, 4).join('\n'), info.stdout.split('\n').slice(0, 4).join('\n'));
    const json = JSON.parse((await ok(['info', '--json'])).stdout);
    assert.equal(typeof json.packageVersion, 'string');
    assert.equal(JSON.parse((await ok(['--json'])).stdout).llamaCommit, json.llamaCommit);
  });

  it('--help and <command> --help', async () => {
    const main = (await ok(['--help'])).stdout;
    for (const command of ['run', 'pull', 'inspect', 'estimate', 'info']) assert.match(main, new RegExp(`^  ${command} `, 'm'));
    assert.match(main, /130 interrupted/);
    const run = (await ok(['run', '--help'])).stdout;
    for (const flag of ['-ngl, --gpu-layers, --n-gpu-layers', '--repeat-penalty', '-sys, --system-prompt', '-ot, --override-tensor', '--preset']) assert.ok(run.includes(flag), flag);
    for (const command of ['pull', 'inspect', 'estimate', 'info']) assert.match((await ok([command, '--help'])).stdout, new RegExp(`^usage: llama-napi .*${command === 'info' ? '\\[info\\]' : command}`));
  });
});
