/**
 * GGUF reader/writer, encoders and fixture generator: the real vocabulary file, round
 * trips of every value type, bit-exact encoders, deterministic fixtures, and the hostile
 * inputs from shared/reliability.md (missing, directory, device, empty, truncated,
 * bit-flipped, absurd counts) — each must end in a LlamaError with the right code.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LlamaError } from '../lib/errors.js';
import { HeaderBuilder } from '../lib/gguf/encode.js';
import {
  decodeQ8_0,
  encodeF16,
  encodeQ8_0,
  f16BitsToF32,
  f32ToF16Bits,
  readGguf,
  writeGguf,
  type GgufFile,
  type GgufValue,
  type GgufWriteTensor,
} from '../lib/gguf/index.js';
import { fixtureModel, fixtureSource, vocabPath, writeFixtureModel, type FixtureSpec } from './fixtures/models.js';
import { MIXTRAL_CHAT_TEMPLATE } from './fixtures/templates.js';

const dir = mkdtempSync(join(tmpdir(), 'llama-napi-gguf-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let tmpCounter = 0;
const tmpPath = (name = 'f') => join(dir, `${name}-${tmpCounter++}.gguf`);

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<LlamaError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LlamaError, `expected a LlamaError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

/** Writes `bytes` to a temp file and expects ERR_GGUF_INVALID whose message matches. */
async function expectInvalid(bytes: Uint8Array, message?: RegExp): Promise<void> {
  const path = tmpPath('bad');
  writeFileSync(path, bytes);
  await rejectsWith(readGguf(path), 'ERR_GGUF_INVALID', message);
}

/** A header start: magic, version, counts; `rest` appends the body. */
function header(nTensors: bigint | number, nKv: bigint | number, rest?: (h: HeaderBuilder) => void, version = 3): Buffer {
  const h = new HeaderBuilder();
  h.raw(Buffer.from('GGUF'));
  h.u32(version);
  h.u64(nTensors);
  h.u64(nKv);
  rest?.(h);
  return h.toBuffer();
}

/** One tensor description: name, dims, type, offset. */
function tensorInfo(h: HeaderBuilder, name: string, dims: (number | bigint)[], type: number, offset: number | bigint): void {
  h.string(name);
  h.u32(dims.length);
  for (const d of dims) h.u64(BigInt.asUintN(64, BigInt(d)));
  h.i32(type);
  h.u64(offset);
}

async function tensorBytes(path: string, file: GgufFile, name: string): Promise<Buffer> {
  const info = file.tensors.find((t) => t.name === name);
  assert.ok(info, `tensor ${name}`);
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(info.byteSize);
    await fh.read(buf, 0, info.byteSize, file.dataOffset + info.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

describe('reading the real vocabulary file', () => {
  test('has 32,000 SPM tokens with their GGUF types', async () => {
    const file = await readGguf(vocabPath());
    assert.equal(file.version, 3);
    assert.equal(file.tensors.length, 0);
    const m = file.metadata;
    assert.deepEqual(m['tokenizer.ggml.model'], { type: 'string', value: 'llama' });
    assert.deepEqual(m['general.architecture'], { type: 'string', value: 'llama' });
    const tokens = m['tokenizer.ggml.tokens'];
    assert.ok(tokens?.type === 'array' && tokens.itemType === 'string');
    assert.equal(tokens.value.length, 32000);
    assert.deepEqual(tokens.value.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
    const scores = m['tokenizer.ggml.scores'];
    assert.ok(scores?.type === 'array' && scores.itemType === 'float32' && scores.value.length === 32000);
    const types = m['tokenizer.ggml.token_type'];
    assert.ok(types?.type === 'array' && types.itemType === 'int32' && types.value.length === 32000);
    assert.deepEqual(m['tokenizer.ggml.bos_token_id'], { type: 'uint32', value: 1 });
    assert.deepEqual(m['tokenizer.ggml.add_bos_token'], { type: 'bool', value: true });
  });
});

/** Metadata covering every value type, with edge values. */
const ALL_TYPES: Array<[string, GgufValue]> = [
  ['general.architecture', { type: 'string', value: 'llama' }],
  ['general.alignment', { type: 'uint32', value: 64 }],
  ['t.u8', { type: 'uint8', value: 255 }],
  ['t.i8', { type: 'int8', value: -128 }],
  ['t.u16', { type: 'uint16', value: 65535 }],
  ['t.i16', { type: 'int16', value: -32768 }],
  ['t.u32', { type: 'uint32', value: 0xffffffff }],
  ['t.i32', { type: 'int32', value: -0x80000000 }],
  ['t.f32', { type: 'float32', value: 0.5 }],
  ['t.bool', { type: 'bool', value: false }],
  ['t.string', { type: 'string', value: 'héllo ▁world 🦙' }],
  ['t.u64.small', { type: 'uint64', value: 42 }],
  ['t.u64.big', { type: 'uint64', value: 0xffffffffffffffffn }],
  ['t.i64', { type: 'int64', value: -0x8000000000000000n }],
  ['t.f64', { type: 'float64', value: Math.PI }],
  ['t.arr.str', { type: 'array', itemType: 'string', value: ['a', '', 'ü'] }],
  ['t.arr.f32', { type: 'array', itemType: 'float32', value: [1.5, -2, 0] }],
  ['t.arr.i32', { type: 'array', itemType: 'int32', value: [1, -1, 2147483647] }],
  ['t.arr.bool', { type: 'array', itemType: 'bool', value: [true, false] }],
  ['t.arr.u64', { type: 'array', itemType: 'uint64', value: [0, 2n ** 63n] }],
  ['t.arr.empty', { type: 'array', itemType: 'uint8', value: [] }],
  ['__proto__', { type: 'string', value: 'just a key' }],
];

/** A small valid file: three tensors of different types, one streamed asynchronously. */
async function writeSmall(path: string) {
  const f32 = new Float32Array(64).map((_, i) => i / 8 - 4);
  const tensors: GgufWriteTensor[] = [
    { name: 'a.f32', dims: [8, 8], type: 'F32', data: new Uint8Array(f32.buffer) },
    { name: 'b.f16', dims: [4, 2, 2], type: 'F16', data: encodeF16(f32.subarray(0, 16)) },
    {
      name: 'c.q8',
      dims: [32, 2],
      type: 8,
      data: async function* () {
        yield encodeQ8_0(f32.subarray(0, 32));
        yield encodeQ8_0(f32.subarray(32, 64));
      },
    },
  ];
  return writeGguf(path, { metadata: ALL_TYPES, tensors });
}

describe('writer → reader round trip', () => {
  test('metadata of every type, tensor layout and data survive', async () => {
    const path = tmpPath('small');
    const written = await writeSmall(path);
    const file = await readGguf(path);
    assert.equal(file.version, 3);
    assert.equal(file.alignment, 64);
    assert.equal(file.dataOffset % 64, 0);
    assert.equal(file.dataOffset, written.dataOffset);
    assert.equal(file.fileSize, written.fileSize);
    assert.deepEqual(Object.entries(file.metadata), ALL_TYPES);
    assert.equal(Object.getPrototypeOf(file.metadata), null);
    assert.deepEqual(file.tensors, written.tensors);
    assert.deepEqual(
      file.tensors.map((t) => [t.name, t.dims, t.typeName, t.byteSize]),
      [['a.f32', [8, 8], 'F32', 256], ['b.f16', [4, 2, 2], 'F16', 32], ['c.q8', [32, 2], 'Q8_0', 68]],
    );
    for (const t of file.tensors) assert.equal(t.offset % 64, 0, t.name);
    const a = await tensorBytes(path, file, 'a.f32');
    assert.equal(a.readFloatLE(4 * 9), 9 / 8 - 4);
    const c = await tensorBytes(path, file, 'c.q8');
    const decoded = decodeQ8_0(c);
    assert.ok(Math.abs(decoded[40]! - (40 / 8 - 4)) < 0.02);
  });

  test('a file without tensors ends at its header; version 2 files are read', async () => {
    const path = tmpPath();
    const written = await writeGguf(path, { metadata: { 'x.y': { type: 'int8', value: 1 } }, tensors: [] });
    const bytes = await readFile(path);
    assert.equal(bytes.length, written.fileSize);
    bytes.writeUInt32LE(2, 4);
    writeFileSync(path, bytes);
    const file = await readGguf(path);
    assert.equal(file.version, 2);
    assert.equal(file.dataOffset, bytes.length);
  });

  test('bad writer input is a TypeError/RangeError naming it, and leaves no file', async () => {
    const path = tmpPath();
    const w = (metadata: Array<[string, GgufValue]>, tensors: GgufWriteTensor[] = []) => writeGguf(path, { metadata, tensors });
    await assert.rejects(w([['k', { type: 'uint8', value: 256 }]]), { name: 'RangeError', message: /metadata\['k'\]/ });
    await assert.rejects(w([['k', { type: 'int32', value: 1.5 }]]), RangeError);
    await assert.rejects(w([['k', { type: 'string', value: 5 as unknown as string }]]), TypeError);
    await assert.rejects(w([['k', { type: 'array', itemType: 'array' as 'uint8', value: [] }]]), TypeError);
    await assert.rejects(w([['general.alignment', { type: 'uint32', value: 3 }]]), RangeError);
    await assert.rejects(w([], [{ name: 'q', dims: [31], type: 'Q8_0', data: new Uint8Array(34) }]), { message: /multiple of 32/ });
    await assert.rejects(w([], [{ name: 'x', dims: [4], type: 'F32', data: new Uint8Array(15) }]), { message: /16 bytes/ });
    await assert.rejects(w([], [{ name: 'y'.repeat(64), dims: [1], type: 'F32', data: new Uint8Array(4) }]), RangeError);
    await assert.rejects(stat(path), { code: 'ENOENT' });
    // A streamed source that comes up short fails after the file was created: it is removed.
    const short = { name: 's', dims: [4], type: 'F32', data: () => [new Uint8Array(8)] } as const;
    await assert.rejects(w([], [short]), { name: 'RangeError', message: /8 bytes, expected 16/ });
    await assert.rejects(stat(path), { code: 'ENOENT' });
  });
});

describe('encoders', () => {
  test('f32 → f16 rounds to nearest even like ggml', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [65504, 0x7bff],
      [65520, 0x7c00], [1e6, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -26, 0x0000],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [6.103515625e-5, 0x0400], [NaN, 0x7e00],
    ];
    for (const [value, bits] of cases) assert.equal(f32ToF16Bits(value), bits, `f16(${value})`);
    assert.equal(f16BitsToF32(0x2e66), 0.0999755859375);
    assert.deepEqual([...encodeF16(new Float32Array([1, -2]))], [0x00, 0x3c, 0x00, 0xc0]);
  });

  test('Q8_0 blocks: f16 scale amax/127, quants rounded half away from zero', () => {
    const x = new Float32Array(64);
    x[0] = 127;
    for (let j = 1; j < 32; j++) x[j] = j - 16 + 0.5; // exact .5 ties after scaling by 1
    const q = encodeQ8_0(x);
    assert.equal(q.length, 68);
    assert.deepEqual([q[0], q[1]], [0x00, 0x3c]); // d = 1.0
    const quants = [...new Int8Array(q.buffer, 2, 32)];
    assert.deepEqual(quants, [127, ...Array.from({ length: 31 }, (_, i) => (i + 1 < 16 ? i + 1 - 16 : i + 1 - 15))]);
    assert.deepEqual([...q.subarray(34)], new Array(34).fill(0)); // all-zero block: d = 0, quants 0
    assert.throws(() => encodeQ8_0(new Float32Array(33)), RangeError);
  });
});

describe('fixture models', () => {
  const small: FixtureSpec[] = (['llama', 'moe'] as const).flatMap((kind) =>
    (['F32', 'F16', 'Q8_0'] as const).map((type) => ({ kind, type })),
  );

  test('every small fixture generates quickly and reads back as a llama model', async (t) => {
    for (const spec of small) {
      const path = tmpPath(`${spec.kind}-${spec.type}`);
      const start = performance.now();
      await writeFixtureModel(spec, path);
      t.diagnostic(`${spec.kind} ${spec.type}: ${(performance.now() - start).toFixed(0)} ms, ${(await stat(path)).size} bytes`);
      const file = await readGguf(path);
      const m = file.metadata;
      assert.deepEqual(m['general.architecture'], { type: 'string', value: 'llama' });
      assert.deepEqual(m['general.file_type'], { type: 'uint32', value: { F32: 0, F16: 1, Q8_0: 7 }[spec.type] });
      assert.deepEqual(m['tokenizer.chat_template'], { type: 'string', value: MIXTRAL_CHAT_TEMPLATE });
      assert.equal((m['general.description']?.value as string).includes(fixtureSource(spec)), true);
      const types = m['tokenizer.ggml.token_type'];
      assert.ok(types?.type === 'array' && types.itemType === 'int32' && types.value.length === 32000);
      const byName = new Map(file.tensors.map((x) => [x.name, x]));
      assert.deepEqual(byName.get('token_embd.weight')?.dims, [64, 32000]);
      assert.equal(byName.get('blk.1.attn_norm.weight')?.typeName, 'F32');
      assert.deepEqual(byName.get('blk.0.attn_k.weight')?.dims, [64, 32]); // GQA: 2 of 4 heads
      assert.equal(byName.get('output.weight')?.typeName, spec.type);
      if (spec.kind === 'moe') {
        assert.deepEqual(m['llama.expert_count'], { type: 'uint32', value: 8 });
        assert.deepEqual(byName.get('blk.0.ffn_gate_inp.weight')?.dims, [64, 8]);
        assert.deepEqual(byName.get('blk.0.ffn_down_exps.weight')?.dims, [64, 64, 8]);
        assert.equal(byName.has('blk.0.ffn_gate.weight'), false);
      } else {
        assert.deepEqual(byName.get('blk.1.ffn_down.weight')?.dims, [128, 64]);
      }
    }
  });

  test('weights are varied and near the intended scale; norms are 1', async () => {
    const path = tmpPath();
    await writeFixtureModel({ kind: 'llama', type: 'F16' }, path);
    const file = await readGguf(path);
    const out = await tensorBytes(path, file, 'output.weight');
    const values = Array.from({ length: 8192 }, (_, i) => f16BitsToF32(out.readUInt16LE(2 * i)));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(mean) < 0.01 && Math.abs(std - 1 / 8) < 0.01, `mean ${mean}, std ${std}`);
    assert.ok(new Set(values).size > 1000);
    const norm = await tensorBytes(path, file, 'output_norm.weight');
    assert.ok([...new Float32Array(norm.buffer, norm.byteOffset, 64)].every((v) => v === 1));
  });

  test('generation is deterministic and the cache reuses the file', async () => {
    const spec: FixtureSpec = { kind: 'moe', type: 'Q8_0', seed: 7 };
    const [a, b] = [tmpPath(), tmpPath()];
    await writeFixtureModel(spec, a);
    await writeFixtureModel(spec, b);
    assert.equal(await sha256(a), await sha256(b));
    const [cached, again] = await Promise.all([fixtureModel(spec), fixtureModel(spec)]);
    assert.equal(cached, again);
    assert.equal(await sha256(cached), await sha256(a));
    const mtime = (await stat(cached)).mtimeMs;
    assert.equal(await fixtureModel(spec), cached);
    assert.equal((await stat(cached)).mtimeMs, mtime);
    assert.notEqual(await fixtureModel({ ...spec, seed: 8 }), cached);
    assert.throws(() => fixtureSource({ kind: 'llama', type: 'Q8_0', embeddingLength: 48, headCount: 4 }), RangeError);
  });

  test('concurrent processes generating the same fixture both get one complete file', { timeout: 120_000 }, async () => {
    const cache = join(dir, 'cache');
    const script = "import { fixtureModel } from './test/fixtures/models.ts'; " +
      "console.log(await fixtureModel({ kind: 'llama', type: 'Q8_0', layerCount: 1 }));";
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          cwd: new URL('..', import.meta.url),
          env: { ...process.env, LLAMA_NAPI_FIXTURE_CACHE: cache },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`child exited with ${code}`))));
      });
    const [a, b] = await Promise.all([run(), run()]);
    assert.equal(a, b);
    assert.ok(a.startsWith(cache));
    assert.deepEqual(readdirSync(cache), [basename(a)]); // no temporary files left behind
    const expected = tmpPath();
    await writeFixtureModel({ kind: 'llama', type: 'Q8_0', layerCount: 1 }, expected);
    assert.equal(await sha256(a), await sha256(expected));
  });
});

describe('hostile files', () => {
  test('missing file, directory, device, FIFO', async () => {
    await rejectsWith(readGguf(join(dir, 'nope.gguf')), 'ERR_FILE_NOT_FOUND', /does not exist/);
    await rejectsWith(readGguf(join(dir, 'nope', 'deeper.gguf')), 'ERR_FILE_NOT_FOUND');
    await rejectsWith(readGguf(dir), 'ERR_NOT_A_FILE', /directory/);
    await rejectsWith(readGguf('/dev/zero'), 'ERR_NOT_A_FILE', /device/);
    const fifo = join(dir, 'fifo');
    if (spawnSync('mkfifo', [fifo]).status === 0) await rejectsWith(readGguf(fifo), 'ERR_NOT_A_FILE', /FIFO/);
  });

  test('bad arguments are TypeError/RangeError', async () => {
    await assert.rejects(readGguf(''), TypeError);
    await assert.rejects(readGguf(vocabPath(), { maxTensorCount: -1 }), { name: 'RangeError', message: /maxTensorCount/ });
    await assert.rejects(readGguf(vocabPath(), { maxTensorCount: 1.5 }), RangeError);
    await assert.rejects(readGguf(vocabPath(), { bogus: 1 } as object), { name: 'TypeError', message: /bogus/ });
  });

  test('empty file, bad magic, unsupported versions', async () => {
    await expectInvalid(new Uint8Array(0), /empty/);
    await expectInvalid(Buffer.from('GGU'), /truncated.*magic/);
    await expectInvalid(header(0, 0).fill(0x58, 0, 1), /bad magic at byte 0/);
    await expectInvalid(header(0, 0, undefined, 99), /version 99/);
    await expectInvalid(header(0, 0, undefined, 1), /version 1/);
    await expectInvalid(header(0, 0, undefined, 0x03000000), /big-endian/);
  });

  test('every truncation of a valid file is ERR_GGUF_INVALID', async () => {
    const path = tmpPath('whole');
    const written = await writeSmall(path);
    const whole = await readFile(path);
    const last = written.tensors.at(-1)!;
    const end = written.dataOffset + last.offset + last.byteSize;
    const cut = tmpPath('cut');
    // Every prefix through the header; in the data section every 8th, and the last byte.
    const lengths = Array.from({ length: end }, (_, n) => n).filter((n) => n < written.dataOffset || n % 8 === 0 || n === end - 1);
    for (const n of lengths) {
      writeFileSync(cut, whole.subarray(0, n));
      await rejectsWith(readGguf(cut), 'ERR_GGUF_INVALID');
    }
    // Padding after the last tensor is optional, as in llama.cpp.
    writeFileSync(cut, whole.subarray(0, end));
    assert.equal((await readGguf(cut)).tensors.length, 3);
  });

  test('absurd counts and lengths fail fast without allocating for them', async () => {
    const huge = 2n ** 60n;
    const before = process.memoryUsage().arrayBuffers;
    const start = performance.now();
    await expectInvalid(header(huge, 0), /tensor count .* exceeds the limit/);
    await expectInvalid(header(0, huge), /key\/value count .* exceeds the limit/);
    await expectInvalid(header(1000, 0), /cannot fit/);
    await expectInvalid(header(0, 1, (h) => (h.u64(huge), h.raw(Buffer.alloc(16)))), /length .* more than the limit/);
    await expectInvalid(header(0, 1, (h) => (h.u64(32 << 20), h.raw(Buffer.alloc(16)))), /truncated/); // under the limit, beyond the file
    const arrayOf = (n: bigint, itemType = 4) => header(0, 1, (h) => (h.string('k'), h.u32(9), h.u32(itemType), h.u64(n)));
    await expectInvalid(arrayOf(huge), /array 'k' .* more than the limit/);
    await expectInvalid(arrayOf(1n << 25n, 8), /cannot fit/);
    await expectInvalid(header(0, 1, (h) => (h.string('k'), h.u32(8), h.u64(huge))), /'k'.*more than the limit/);
    await expectInvalid(header(0, 1, (h) => (h.string('k'), h.u32(9), h.u32(9), h.u64(1))), /nested array/);
    await expectInvalid(header(0, 1, (h) => (h.string('k'), h.u32(13), h.u32(0))), /not a known GGUF value type/);
    await expectInvalid(header(0, 1, (h) => (h.string('k'), h.u32(7), h.raw(Buffer.from([2])))), /not a bool/);
    await expectInvalid(header(0, 2, (h) => { for (let i = 0; i < 2; i++) h.string('k'), h.u32(0), h.raw(Buffer.from([1])); }), /duplicate metadata key 'k'/);
    await expectInvalid(header(0, 1, (h) => (h.string(''), h.u32(0), h.raw(Buffer.alloc(8)))), /empty key/);
    assert.ok(performance.now() - start < 2000, 'hostile headers are rejected quickly');
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 << 20, 'no large buffers were allocated');
  });

  test('bad tensor descriptions and alignment', async () => {
    const withTensor = (dims: (number | bigint)[], type = 0, offset = 0, kv?: (h: HeaderBuilder) => void, nKv = 0) =>
      Buffer.concat([header(1, nKv, (h) => (kv?.(h), tensorInfo(h, 't', dims, type, offset))), Buffer.alloc(4096)]);
    assert.equal((await (async () => { const p = tmpPath(); writeFileSync(p, withTensor([4, 4])); return readGguf(p); })()).tensors[0]?.byteSize, 64);
    await expectInvalid(withTensor([]), /0 dimensions/);
    await expectInvalid(withTensor([1, 1, 1, 1, 1]), /5 dimensions/);
    await expectInvalid(withTensor([4, 0]), /dimension 1 = 0/);
    await expectInvalid(withTensor([4, -1n]), /dimension 1 = -1/);
    await expectInvalid(withTensor([2n ** 31n, 2n ** 31n, 2n ** 31n]), /overflow/);
    await expectInvalid(withTensor([4], 4), /unknown ggml type 4/);
    await expectInvalid(withTensor([4], 1000), /unknown ggml type/);
    await expectInvalid(withTensor([33], 8), /not a multiple of the block size 32/);
    await expectInvalid(withTensor([4], 0, 16), /not a multiple of the alignment 32/);
    await expectInvalid(withTensor([1 << 20]), /truncated: tensor 't'/);
    await expectInvalid(withTensor([4], 0, 2 ** 40), /truncated/);
    const alignment = (type: number, value: number) => (h: HeaderBuilder) => (h.string('general.alignment'), h.u32(type), h.u32(value));
    await expectInvalid(withTensor([4], 0, 0, alignment(4, 0), 1), /not a power of two/);
    await expectInvalid(withTensor([4], 0, 0, alignment(4, 48), 1), /not a power of two/);
    await expectInvalid(withTensor([4], 0, 0, alignment(5, 32), 1), /must be a uint32/);
    await expectInvalid(withTensor([4], 0, 0, alignment(4, 2 ** 31), 1), /data section starts at byte 2147483648/);
    const twoTensors = header(2, 0, (h) => (tensorInfo(h, 'a', [16], 0, 0), tensorInfo(h, 'b', [16], 0, 32)));
    await expectInvalid(Buffer.concat([twoTensors, Buffer.alloc(4096)]), /overlap/);
    const dupNames = header(2, 0, (h) => (tensorInfo(h, 'a', [8], 0, 0), tensorInfo(h, 'a', [8], 0, 32)));
    await expectInvalid(Buffer.concat([dupNames, Buffer.alloc(4096)]), /duplicate tensor name 'a'/);
    await expectInvalid(Buffer.concat([header(1, 0, (h) => tensorInfo(h, 'n'.repeat(64), [8], 0, 0)), Buffer.alloc(64)]), /more than the limit of 63/);
  });

  test('bit flips in the header parse or are ERR_GGUF_INVALID', { timeout: 120_000 }, async () => {
    const path = tmpPath('flip-src');
    const written = await writeSmall(path);
    const whole = await readFile(path);
    const flipped = tmpPath('flipped');
    let valid = 0;
    let invalid = 0;
    // Every bit of the fixed fields (magic, version, counts); one bit, varying, of every
    // other header byte: enough to hit each length, type, count, dim and offset field.
    for (let byte = 0; byte < written.dataOffset; byte++) {
      for (const bit of byte < 24 ? [0, 1, 2, 3, 4, 5, 6, 7] : [byte % 8]) {
        const copy = Buffer.from(whole);
        copy[byte]! ^= 1 << bit;
        writeFileSync(flipped, copy);
        try {
          await readGguf(flipped);
          valid++;
        } catch (error) {
          assert.ok(error instanceof LlamaError && error.code === 'ERR_GGUF_INVALID', `byte ${byte} bit ${bit}: ${String(error)}`);
          invalid++;
        }
      }
    }
    assert.ok(valid > 0 && invalid > 0, `${valid} valid, ${invalid} invalid`);
  });
});
