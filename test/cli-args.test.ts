/**
 * The CLI's pure parts, in-process and without a model: llama.cpp-style argument parsing,
 * flags → library options, and the memory verdict (including the cases this machine cannot
 * produce for real: weights larger than free RAM, mapped or not).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MemoryEstimate } from '../lib/index.js';
import { editDistance, normalizeFlag, parseArgs } from '../lib/cli/args.js';
import { UsageError } from '../lib/cli/exit-codes.js';
import { RUN_GROUPS, flagsOf } from '../lib/cli/flags.js';
import { modelFileOf } from '../lib/cli/hub.js';
import { diskSpeedLines, judgeMemory, refusalLines } from '../lib/cli/memory-check.js';
import { FlagValues, contextOptions, generateOptions, placementOptions } from '../lib/cli/options.js';

const RUN = flagsOf(RUN_GROUPS);
const parse = (argv: string[]) => new FlagValues(parseArgs(argv, RUN, 'run'), 'run');
const usageError = (pattern: RegExp) => (e: unknown) => e instanceof UsageError && pattern.test(e.message);

describe('argument parsing (llama.cpp spellings)', () => {
  it('reads the model card line: multi-letter short flags, _ and - alike, negative values, switches', async () => {
    const argv = ['-ngl', '35', '-m', 'm.gguf', '--color', '-c', '32768', '--temp', '0.7', '--repeat_penalty', '1.1', '-n', '-1', '-p', '[INST] {prompt} [/INST]'];
    const f = parse(argv);
    assert.deepEqual(placementOptions(f), { gpuLayers: 35 });
    assert.deepEqual(contextOptions(f, 32768), { contextSize: 32768 });
    assert.deepEqual(await generateOptions(f), { maxTokens: -1, temperature: 0.7, repeatPenalty: 1.1 });
    assert.equal(f.string('prompt'), '[INST] {prompt} [/INST]');
    assert.equal(f.string('color'), 'auto');
  });

  it('takes every documented spelling of a flag, and --flag=value', () => {
    for (const argv of [['--repeat-penalty', '1.2'], ['--repeat_penalty', '1.2'], ['--repeat_penalty=1.2']]) assert.equal(parse(argv).number('repeatPenalty'), 1.2);
    for (const name of ['-ngl', '--gpu-layers', '--n-gpu-layers', '--n_gpu_layers']) assert.equal(parse([name, '3']).integer('gpuLayers'), 3);
    for (const name of ['-n', '--n-predict', '--predict', '--n_predict']) assert.equal(parse([name, '5']).integer('nPredict'), 5);
    for (const name of ['-i', '--interactive', '-cnv', '--conversation']) assert.ok(parse([name]).flag('interactive') || parse([name]).flag('conversation'));
    assert.equal(parse(['-sys', 'Be brief']).string('systemPrompt'), 'Be brief');
    assert.equal(parse(['--system-prompt', 'x']).string('systemPrompt'), 'x');
    assert.equal(normalizeFlag('--ctx_size'), '--ctx-size');
  });

  it('-fa and --color take an optional on|off|auto', () => {
    assert.equal(parse(['-fa']).string('flashAttn'), 'on');
    assert.equal(parse(['-fa', 'off']).string('flashAttn'), 'off');
    assert.equal(parse(['--flash-attn', 'auto', '-p', 'x']).string('prompt'), 'x');
    assert.equal(parse(['--color', 'off']).string('color'), 'off');
    assert.equal(parse(['--color', '-p', 'x']).string('color'), 'auto');
  });

  it('an unknown flag names it and suggests the closest known one', () => {
    assert.throws(() => parse(['--repeat_penatly', '1.1']), usageError(/^unknown flag --repeat_penatly; did you mean --repeat-penalty\?$/));
    assert.throws(() => parse(['--tmep', '1']), usageError(/did you mean --temp\?/));
    assert.throws(() => parse(['-nlg', '3']), usageError(/did you mean -ngl\?/));
  });

  it('a flag without its value says so', () => {
    assert.throws(() => parse(['-m']), usageError(/^-m needs a value \(FNAME\)$/));
    assert.throws(() => parse(['-m', '-p', 'hi']), usageError(/^-m needs a value/));
    assert.throws(() => parse(['--mlock=yes']), usageError(/--mlock takes no value/));
  });

  it('values are checked with the flag as typed', async () => {
    assert.throws(() => parse(['-n', 'ten']).integer('nPredict'), usageError(/^-n expects an integer, got "ten"$/));
    assert.throws(() => parse(['--temp', 'hot']).number('temp'), usageError(/^--temp expects a number/));
    assert.throws(() => contextOptions(parse(['-fa=maybe']), 0), usageError(/-fa expects one of on, off, auto/));
    await assert.rejects(generateOptions(parse(['--preset', 'llama9'])), usageError(/--preset expects one of mixtral/));
  });

  it('editDistance', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('-nlg', '-ngl'), 1);
    assert.equal(editDistance('same', 'same'), 0);
  });
});

describe('flags → library options', () => {
  it('-ngl: a number, max/all/-1 (all layers) and auto', () => {
    assert.equal(placementOptions(parse(['-ngl', '0'])).gpuLayers, 0);
    for (const v of ['max', 'all', '-1']) assert.equal(placementOptions(parse(['-ngl', v])).gpuLayers, 'max');
    assert.equal(placementOptions(parse(['-ngl', 'auto'])).gpuLayers, 'auto');
    assert.throws(() => placementOptions(parse(['-ngl', 'lots'])), usageError(/-ngl expects an integer/));
  });

  it('-ot uses llama.cpp\'s pattern=device,pattern=device syntax, and repeats', () => {
    const f = parse(['-ot', 'exps=CPU,^output\\.=CUDA0', '--override-tensor', 'blk\\.1\\.=CPU']);
    assert.deepEqual(placementOptions(f).tensorOverrides, [
      { pattern: 'exps', device: 'CPU' },
      { pattern: '^output\\.', device: 'CUDA0' },
      { pattern: 'blk\\.1\\.', device: 'CPU' },
    ]);
    assert.throws(() => placementOptions(parse(['-ot', 'exps'])), usageError(/-ot expects PATTERN=DEVICE/));
  });

  it('MoE placement, file mode, split', () => {
    assert.deepEqual(placementOptions(parse(['--cpu-moe', '--n-cpu-moe', '4', '--no-mmap', '--mlock', '-sm', 'row', '-mg', '1', '-ts', '3,1'])), {
      cpuMoe: true, nCpuMoe: 4, useMmap: false, useMlock: true, splitMode: 'row', mainGpu: 1, tensorSplit: [3, 1],
    });
  });

  it('-c 0 is the trained length; other context flags map one to one', () => {
    assert.deepEqual(contextOptions(parse(['-c', '0']), 32768), { contextSize: 32768 });
    assert.deepEqual(contextOptions(parse(['-b', '64', '-ub', '32', '-t', '2', '-tb', '1', '-fa', 'off', '-ctk', 'q8_0', '-ctv', 'f16']), 4096), {
      batchSize: 64, ubatchSize: 32, threads: 2, threadsBatch: 1, flashAttention: 'off', kvCacheTypeK: 'q8_0', kvCacheTypeV: 'f16',
    });
  });

  it('no sampling flags → no options: the library\'s (llama.cpp\'s) defaults apply, not a preset', async () => {
    assert.deepEqual(await generateOptions(parse(['-p', 'x'])), {});
  });

  it('--preset mixtral is the card\'s recommendation; flags given win whatever their order', async () => {
    assert.deepEqual(await generateOptions(parse(['--preset', 'mixtral'])), { temperature: 0.7, repeatPenalty: 1.1 });
    assert.deepEqual(await generateOptions(parse(['--temp', '0', '--preset', 'mixtral'])), { temperature: 0, repeatPenalty: 1.1 });
  });

  it('sampling flags, -s -1 (random), -r, --json-schema', async () => {
    assert.deepEqual(await generateOptions(parse(['--top-k', '10', '--top-p', '0.5', '--min-p', '0', '--repeat-last-n', '-1', '-s', '42', '-r', 'User:', '-r', '\n\n'])), {
      topK: 10, topP: 0.5, minP: 0, repeatLastN: -1, seed: 42, stop: ['User:', '\n\n'],
    });
    assert.deepEqual(await generateOptions(parse(['-s', '-1'])), {});
    assert.deepEqual(await generateOptions(parse(['-j', '{"type":"object"}'])), { jsonSchema: { type: 'object' } });
    await assert.rejects(generateOptions(parse(['-j', '{nope'])), usageError(/--json-schema|-j expects a JSON schema/));
  });
});

describe('memory verdict', () => {
  const GiB = 2 ** 30;
  const usage = (name: string, weights: number, kvCache: number, compute: number, free: number) => ({
    name, weights, kvCache, compute, total: weights + kvCache + compute, free, memoryTotal: free,
  });
  const estimate = (host: ReturnType<typeof usage>, devices: ReturnType<typeof usage>[] = []): MemoryEstimate => ({ host, devices, fits: false });

  it('fits', () => {
    assert.equal(judgeMemory(estimate(usage('CPU', 4 * GiB, GiB, GiB, 16 * GiB)), true).kind, 'fits');
  });

  it('mapped weights larger than free RAM: loads, at disk speed, and says so', () => {
    const e = estimate(usage('CPU', 26 * GiB, 4 * GiB, GiB, 16 * GiB));
    const v = judgeMemory(e, true);
    assert.equal(v.kind, 'diskSpeed');
    assert.equal(v.hostNeed, 5 * GiB);
    assert.match(diskSpeedLines(e).join('\n'), /run at disk speed/);
  });

  it('the same with --no-mmap or --mlock is a hard no, with the figures', () => {
    const e = estimate(usage('CPU', 26 * GiB, 4 * GiB, GiB, 16 * GiB));
    const v = judgeMemory(e, false);
    assert.equal(v.kind, 'refuse');
    assert.match(refusalLines(e, v).join('\n'), /host RAM: needs 31\.0 GiB .*--no-mmap\/--mlock.*16\.0 GiB free/);
  });

  it('a GPU that cannot hold its share refuses, naming the device', () => {
    const e = estimate(usage('CPU', 0, 0, GiB, 16 * GiB), [usage('CUDA0', 26 * GiB, 4 * GiB, GiB, 24 * GiB)]);
    const v = judgeMemory(e, true);
    assert.equal(v.kind, 'refuse');
    assert.match(refusalLines(e, v)[0]!, /CUDA0: needs 31\.0 GiB .* 24\.0 GiB free/);
  });

  it('KV cache and compute beyond free RAM refuse even with mapped weights', () => {
    assert.equal(judgeMemory(estimate(usage('CPU', GiB, 20 * GiB, GiB, 16 * GiB)), true).kind, 'refuse');
  });
});

describe('hub results', () => {
  it('the file to load is the first GGUF pullModel returns (the first part of a split model)', () => {
    assert.equal(modelFileOf(['/c/README.md', '/c/m-00001-of-00002.gguf', '/c/m-00002-of-00002.gguf']), '/c/m-00001-of-00002.gguf');
    assert.equal(modelFileOf(['/c/README.md']), undefined);
  });
});
