// GGUF files that parse but lie: the structure-aware fuzzer (test/fuzz/) over a fixed seed, and
// the consistency checks (lib/model-consistency.ts) that keep llama.cpp from aborting on them.
// Long runs: `npm run fuzz -- --cases 20000` (docs/testing.md, "Fuzzing GGUF files").
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { LlamaError } from '../lib/errors.js';
import type { GgufFile } from '../lib/gguf/reader.js';
import type { GgufValue } from '../lib/gguf/types.js';
import { readGguf } from '../lib/gguf/reader.js';
import { checkModelConsistency } from '../lib/model-consistency.js';
import { buildCase, loadBases } from './fuzz/cases.js';
import { readImage, writeImage } from './fuzz/image.js';
import { runFuzz, type CaseResult } from './fuzz/runner.js';
import { fixtureModel } from './fixtures/models.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The suite's run: a fixed seed and case count (about 40 s on 2 cores). */
const SEED = 20261130;
const CASES = 300;

function describeFailure(r: CaseResult): string {
  return `case ${r.index} (${r.base}): ${r.kind} ${r.crashClass ?? r.outcome}\n  ${r.mutations.join('\n  ')}\n  replay: npm run fuzz -- --replay ${r.file ?? '?'}`;
}

describe('the fuzz cases', () => {
  it('rewrite a fixture byte for byte when nothing is mutated', async () => {
    const path = await fixtureModel({ kind: 'moe', type: 'Q8_0' });
    assert.ok(writeImage(await readImage(path)).equals(await readFile(path)));
  });

  it('are reproducible from (seed, index)', async () => {
    const bases = await loadBases();
    for (const index of [0, 7, 123]) {
      const a = buildCase(bases, SEED, index);
      const b = buildCase(bases, SEED, index);
      assert.deepEqual(a.mutations, b.mutations);
      assert.ok(a.bytes.equals(b.bytes), `case ${index} differs between two builds`);
    }
    assert.notDeepEqual(buildCase(bases, SEED, 1).mutations, buildCase(bases, SEED + 1, 1).mutations);
  });
});

describe('consistency checks', () => {
  let base: GgufFile;
  const file = async (edit: (meta: Record<string, GgufValue>, f: GgufFile) => void): Promise<GgufFile> => {
    base ??= await readGguf(await fixtureModel({ kind: 'moe', type: 'Q8_0' }));
    const copy: GgufFile = { ...base, metadata: Object.assign(Object.create(null), base.metadata), tensors: base.tensors.map((t) => ({ ...t })) };
    edit(copy.metadata, copy);
    return copy;
  };
  const check = (f: GgufFile, vocabOnly = false): void => checkModelConsistency({ first: f, parts: [f] }, { vocabOnly, useMmap: undefined });
  const rejects = (f: GgufFile, pattern: RegExp, vocabOnly = false): void => {
    assert.throws(() => check(f, vocabOnly), (e: unknown) => e instanceof LlamaError && e.code === 'ERR_GGUF_INVALID' && pattern.test(e.message));
  };
  const u32 = (value: number): GgufValue => ({ type: 'uint32', value });

  it('accept the fixtures and real models’ shapes', async () => {
    check(await file(() => {}));
    check(await readGguf(await fixtureModel({ kind: 'llama', type: 'F16' })));
    // Mixtral-8x7B, Llama 3 70B (80 layers), a 256-expert model with 8 groups, Hunyuan's "1 expert"
    check(await file((m) => Object.assign(m, { 'llama.expert_count': u32(8), 'llama.expert_used_count': u32(2), 'llama.block_count': u32(32) })));
    check(await file((m) => Object.assign(m, { 'llama.expert_count': u32(0), 'llama.expert_used_count': u32(0), 'llama.block_count': u32(80) })));
    check(await file((m) => Object.assign(m, { 'llama.expert_count': u32(256), 'llama.expert_used_count': u32(8), 'llama.expert_group_count': u32(8), 'llama.expert_group_used_count': u32(4) })));
    check(await file((m) => Object.assign(m, { 'general.architecture': { type: 'string', value: 'hunyuan-dense' }, 'hunyuan-dense.block_count': u32(2), 'hunyuan-dense.expert_count': u32(1), 'hunyuan-dense.expert_used_count': u32(1) })));
    check(await file((m) => Object.assign(m, { 'llama.rope.scaling.type': { type: 'string', value: 'yarn' }, 'llama.attention.layer_norm_rms_epsilon': { type: 'float32', value: 0 } })));
    // per-layer expert counts as an array of block_count items
    check(await file((m) => Object.assign(m, { 'llama.expert_used_count': { type: 'array', itemType: 'uint32', value: [2, 1] } })));
  });

  it('leave missing and mistyped keys to llama.cpp (it rejects them itself)', async () => {
    check(await file((m) => delete m['llama.block_count']));
    check(await file((m) => Object.assign(m, { 'llama.expert_count': { type: 'int32', value: -1 } })));
    check(await file((m) => Object.assign(m, { 'tokenizer.ggml.model': { type: 'uint32', value: 1 } })));
  });

  it('reject block and expert counts that llama.cpp asserts on', async () => {
    rejects(await file((m) => (m['llama.block_count'] = u32(0))), /llama\.block_count is 0: it must be 1 to 512/);
    rejects(await file((m) => (m['llama.block_count'] = u32(0xffffffff))), /block_count is 4294967295/);
    rejects(await file((m) => (m['llama.nextn_predict_layers'] = u32(3))), /nextn_predict_layers is 3: it must be at most/);
    rejects(await file((m) => (m['llama.expert_count'] = u32(1025))), /expert_count is 1025: it must be at most 1024/);
    rejects(await file((m) => (m['llama.expert_used_count'] = u32(0))), /expert_used_count is 0: it must be 1 to llama\.expert_count \(8\)/);
    rejects(await file((m) => (m['llama.expert_used_count'] = u32(9))), /expert_used_count is 9/);
    rejects(await file((m) => (m['llama.expert_count'] = u32(1))), /expert_used_count is 2: it must be 1 to llama\.expert_count \(1\)/);
    rejects(await file((m) => delete m['llama.expert_count']), /the model has no experts/);
    rejects(await file((m) => (m['llama.expert_used_count'] = { type: 'array', itemType: 'int32', value: [2, -1] })), /expert_used_count is 4294967295/);
    rejects(await file((m) => (m['llama.expert_group_count'] = u32(3))), /not a multiple of llama\.expert_group_count/);
    rejects(await file((m) => Object.assign(m, { 'llama.expert_group_count': u32(2), 'llama.expert_group_used_count': u32(2) })), /expert_group_used_count is 2: it must be 1 to 1/);
  });

  it('reject norm epsilons below 0 or NaN, and unknown rope scaling', async () => {
    for (const value of [-1e-5, NaN, -Infinity]) {
      rejects(await file((m) => (m['llama.attention.layer_norm_rms_epsilon'] = { type: 'float32', value })), /layer_norm_rms_epsilon is .*: a norm epsilon must be a number ≥ 0/);
    }
    rejects(await file((m) => (m['llama.rope.scaling.type'] = { type: 'string', value: 'YaRN' })), /rope\.scaling\.type is 'YaRN': it must be one of 'none', 'linear', 'yarn', 'longrope'/);
  });

  it('reject vocabularies llama.cpp aborts on', async () => {
    const tokens = (m: Record<string, GgufValue>): string[] => (m['tokenizer.ggml.tokens'] as { value: string[] }).value;
    rejects(await file((m) => (m['tokenizer.ggml.tokens'] = { type: 'array', itemType: 'string', value: tokens(m).map((t, i) => (i === 9 ? tokens(m)[5]! : t)) })), /has "<0x02>" at ids 5 and 9: every token must be distinct/);
    rejects(await file((m) => (m['tokenizer.ggml.model'] = { type: 'string', value: 'bert' })), /token_type\[3\] is 6 \(byte\), which a 'bert'/);
    rejects(await file((m) => (m['tokenizer.ggml.model'] = { type: 'string', value: 'none' })), /has no vocabulary/);
    // also when only the vocabulary is loaded
    rejects(await file((m) => (m['tokenizer.ggml.model'] = { type: 'string', value: 'no_vocab' })), /has no vocabulary/, true);
    // an RWKV vocabulary without a token per byte makes llama.cpp's tokenizer loop forever
    const rwkv = (value: string[]): Record<string, GgufValue> => ({
      'tokenizer.ggml.model': { type: 'string', value: 'rwkv' },
      'tokenizer.ggml.tokens': { type: 'array', itemType: 'string', value },
    });
    const rwkvBytes = Array.from({ length: 256 }, (_, b) => (b === 0x5c ? '\\\\' : b === 10 ? '\\n' : b < 0x20 || b > 0x7e ? `\\x${b.toString(16).padStart(2, '0')}` : String.fromCharCode(b)));
    check(await file((m) => Object.assign(m, rwkv([...rwkvBytes, 'hello', '\\xe4\\xbd\\xa0']))));
    rejects(await file((m) => Object.assign(m, rwkv(rwkvBytes.filter((t) => t !== 'H')))), /no token for the byte 0x48: an 'rwkv' vocabulary needs one per byte/);
    rejects(await file((m) => Object.assign(m, { 'tokenizer.ggml.model': { type: 'string', value: 'rwkv' } })), /no token for the byte 0x/);
    // llama.cpp reads a token up to its first NUL
    rejects(await file((m) => (m['tokenizer.ggml.tokens'] = { type: 'array', itemType: 'string', value: tokens(m).map((t, i) => (i === 9 ? `${tokens(m)[5]!}\0x` : t)) })), /has "<0x02>" at ids 5 and 9/);
    // empty tokens are distinct for llama.cpp ("[EMPTY_<id>]")
    check(await file((m) => (m['tokenizer.ggml.tokens'] = { type: 'array', itemType: 'string', value: tokens(m).map((t, i) => (i > 300 && i < 310 ? '' : t)) })));
  });

  it('reject tensors ggml cannot map or compute', async () => {
    rejects(await file((_, f) => (f.tensors[1] = { ...f.tensors[1]!, type: 1, typeName: 'F16' })), /tensor 'blk\.0\.attn_norm\.weight' has type F16: norm weights, biases and rope factors must be F32/);
    rejects(await file((_, f) => (f.tensors[2] = { ...f.tensors[2]!, type: 28, typeName: 'F64' })), /tensor 'blk\.0\.attn_q\.weight' has type F64, for which ggml has no matrix kernel/);
    const misaligned = await file((_, f) => (f.dataOffset += 16));
    rejects(misaligned, /tensor 'token_embd\.weight' starts at byte \d+ .*a multiple of 32 bytes/);
    checkModelConsistency({ first: misaligned, parts: [misaligned] }, { vocabOnly: false, useMmap: false });
    check(misaligned, true);
  });
});

describe('GGUF fuzzing', () => {
  it(`survives ${CASES} mutated models (seed ${SEED}): no signal, no hang, every error coded`, { timeout: 240_000 }, async () => {
    const outDir = join(REPO_ROOT, '.cache', 'fuzz', `test-seed${SEED}`);
    const summary = await runFuzz({ seed: SEED, cases: CASES, jobs: 2, caseTimeoutMs: 30_000, outDir });
    assert.deepEqual(summary.failures.map(describeFailure), []);
    // The mutations reach every layer: some files run, some are refused before llama.cpp, some by it.
    const count = (prefix: string): number => Object.entries(summary.outcomes).filter(([k]) => k.startsWith(prefix)).reduce((n, [, c]) => n + c, 0);
    assert.ok(count('ok') > CASES / 10, `few cases ran clean: ${JSON.stringify(summary.outcomes)}`);
    assert.ok(count('load ERR_MODEL_LOAD/ERR_GGUF_INVALID') > 0, JSON.stringify(summary.outcomes));
    assert.ok(count('load ERR_MODEL_LOAD') > count('load ERR_MODEL_LOAD/ERR_GGUF_INVALID'), JSON.stringify(summary.outcomes));
  });
});
