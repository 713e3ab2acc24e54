// Lifetimes: dispose order, idempotence, use after dispose, hostile files, and the
// crash-prone cases (run in child processes: a crash is a failed test with a signal name).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LlamaError } from '../lib/errors.js';
import { loadModel } from '../lib/model.js';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';

const CONTEXT = { contextSize: 128, threads: 1 } as const;

let modelPath: string;
let scratch: string;

before(async () => {
  modelPath = await fixtureModel({ kind: 'llama', type: 'F32' });
  scratch = await mkdtemp(join(tmpdir(), 'llama-napi-lifetime-'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const isDisposedError = (error: unknown): boolean => error instanceof LlamaError && error.code === 'ERR_DISPOSED';

describe('dispose', () => {
  it('is idempotent and returns the same promise', async () => {
    const model = await loadModel(modelPath);
    const context = await model.createContext(CONTEXT);
    const first = context.dispose();
    assert.equal(context.dispose(), first);
    await first;
    assert.equal(context.disposed, true);
    const modelFirst = model.dispose();
    assert.equal(model.dispose(), modelFirst);
    await modelFirst;
    await model.dispose();
    assert.equal(model.disposed, true);
  });

  it("disposing a model disposes its contexts", async () => {
    const model = await loadModel(modelPath);
    const a = await model.createContext(CONTEXT);
    const b = await model.createContext(CONTEXT);
    await a.dispose();
    await model.dispose();
    assert.equal(a.disposed, true);
    assert.equal(b.disposed, true);
  });

  it('await using disposes', async () => {
    let escaped: { disposed: boolean } | undefined;
    {
      await using model = await loadModel(modelPath);
      escaped = model;
    }
    assert.equal(escaped.disposed, true);
  });

  it('use after dispose is ERR_DISPOSED (sync methods throw, async ones reject)', async () => {
    const model = await loadModel(modelPath);
    const context = await model.createContext(CONTEXT);
    await model.dispose();
    assert.throws(() => context.generate('x'), isDisposedError);
    assert.throws(() => context.size, isDisposedError);
    await assert.rejects(context.evaluate([1]), isDisposedError);
    assert.throws(() => model.tokenize('x'), isDisposedError);
    assert.throws(() => model.detokenize([1]), isDisposedError);
    await assert.rejects(model.createContext(CONTEXT), isDisposedError);
  });

  it('fails generations queued behind a disposed context with ERR_DISPOSED', async () => {
    const model = await loadModel(modelPath);
    const context = await model.createContext(CONTEXT);
    const generations = [1, 2, 3].map(() => context.generate('Hello', { maxTokens: 50, temperature: 0 }));
    await context.dispose();
    for (const generation of generations) {
      const outcome = await generation.result.then(
        (result) => result.finishReason,
        (error: LlamaError) => error.code,
      );
      assert.ok(['ERR_DISPOSED', 'length', 'eog'].includes(outcome), outcome);
    }
    assert.equal(await generations[2]!.result.catch((e: LlamaError) => e.code), 'ERR_DISPOSED');
    await model.dispose();
  });
});

describe('crash-prone cases (child processes)', () => {
  for (const what of ['context', 'model'] as const) {
    for (const when of ['queued', 'prompt', 'streaming'] as const) {
      it(`disposing the ${what} while ${when === 'queued' ? 'jobs are queued' : `in ${when}`} ends cleanly`, async () => {
        const outcome = await runChild('dispose-mid-work.ts', [modelPath, what, when]);
        assert.equal(outcome.signal, null, describeOutcome(outcome));
        assert.equal(outcome.code, 0, describeOutcome(outcome));
        const report = outcome.report as {
          iterationError?: string;
          first: { ok: boolean; code?: string; finishReason?: string };
          second?: { ok: boolean; code?: string };
          contextDisposed: boolean;
          modelDisposed: boolean;
          afterwards: string;
        };
        // In-flight work either completes or ends with ERR_DISPOSED; nothing else.
        assert.ok(report.first.ok || report.first.code === 'ERR_DISPOSED', JSON.stringify(report));
        if (!report.first.ok) assert.equal(report.iterationError, 'ERR_DISPOSED');
        if (when === 'streaming') assert.deepEqual(report.first, { ok: false, code: 'ERR_DISPOSED' });
        if (report.second) assert.deepEqual(report.second, { ok: false, code: 'ERR_DISPOSED' });
        assert.equal(report.contextDisposed, true);
        assert.equal(report.afterwards, 'ERR_DISPOSED');
      });
    }
  }

  it('aborting a load from its progress callback rejects ERR_ABORTED and frees it', async () => {
    const outcome = await runChild('abort-load.ts', [modelPath]);
    assert.equal(outcome.code, 0, describeOutcome(outcome));
    assert.deepEqual(outcome.report, { code: 'ERR_ABORTED', reloaded: true });
  });

  it('an idle loaded model does not keep the process alive', async () => {
    const outcome = await runChild('idle-model.ts', [modelPath], 20_000);
    assert.equal(outcome.timedOut, false, describeOutcome(outcome));
    assert.equal(outcome.code, 0, describeOutcome(outcome));
    assert.deepEqual(outcome.report, { loaded: true, finishReason: 'length' });
  });

  it('a load, a context and a dispose leave no thread behind', { skip: process.platform !== 'linux' && 'counts /proc/self/task' }, async () => {
    // Q8_0 and a 256-wide layer: on AMX machines the load converts these weights on an OpenMP
    // team, which must not outlive the load (src/own_thread.h). Elsewhere this still checks that
    // contexts and models take their threads with them.
    const quantized = await fixtureModel({ kind: 'llama', type: 'Q8_0', embeddingLength: 256, headCount: 4, headCountKv: 4, layerCount: 2 });
    const outcome = await runChild('threads-left.ts', [quantized], 60_000);
    assert.equal(outcome.code, 0, describeOutcome(outcome));
    const report = outcome.report as { before: number; afterLoad: number; afterContext: number; afterDispose: number; generated: number };
    assert.equal(report.generated, 4, JSON.stringify(report));
    assert.deepEqual([report.afterLoad, report.afterContext, report.afterDispose], [report.before, report.before, report.before], JSON.stringify(report));
  });

  describe('hostile files are ERR_MODEL_LOAD with a precise cause', () => {
    const cases: Array<[string, () => Promise<string>, string[]]> = [
      ['a missing file', async () => join(scratch, 'missing.gguf'), ['ERR_FILE_NOT_FOUND']],
      ['a directory', async () => scratch, ['ERR_NOT_A_FILE']],
      ['an empty file', async () => write('empty.gguf', new Uint8Array(0)), ['ERR_GGUF_INVALID']],
      ['/dev/zero', async () => '/dev/zero', ['ERR_NOT_A_FILE', 'ERR_GGUF_INVALID']],
      ['a truncated model', async () => write('truncated.gguf', (await readFile(modelPath)).subarray(0, 100_000)), ['ERR_GGUF_INVALID']],
      ['a model cut inside its header', async () => write('header-cut.gguf', (await readFile(modelPath)).subarray(0, 64)), ['ERR_GGUF_INVALID']],
      ['a model missing its last byte', async () => write('tail.gguf', (await readFile(modelPath)).subarray(0, -1)), ['ERR_GGUF_INVALID']],
      ['a bit-flipped magic', async () => write('magic.gguf', flip(await readFile(modelPath), 0)), ['ERR_GGUF_INVALID']],
      ['an absurd tensor count', async () => write('count.gguf', patchU64(await readFile(modelPath), 8, 2n ** 62n)), ['ERR_GGUF_INVALID']],
      ['an absurd metadata count', async () => write('kv.gguf', patchU64(await readFile(modelPath), 16, 2n ** 62n)), ['ERR_GGUF_INVALID']],
      ['a wrong version', async () => write('version.gguf', patchU32(await readFile(modelPath), 4, 99)), ['ERR_GGUF_INVALID']],
    ];
    for (const [name, makeFile, causeCodes] of cases) {
      it(name, async () => {
        const path = await makeFile();
        const outcome = await runChild('hostile-file.ts', [path], 30_000);
        assert.equal(outcome.signal, null, describeOutcome(outcome));
        assert.equal(outcome.code, 0, describeOutcome(outcome));
        const report = outcome.report as { loaded: boolean; name: string; code: string; causeCode: string; message: string };
        assert.equal(report.loaded, false, JSON.stringify(report));
        assert.equal(report.name, 'LlamaError');
        assert.equal(report.code, 'ERR_MODEL_LOAD');
        assert.ok(causeCodes.includes(report.causeCode), JSON.stringify(report));
        assert.ok(report.message.includes(path), `the message names the file: ${report.message}`);
      });
    }
  });
});

async function write(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(scratch, name);
  await writeFile(path, bytes);
  return path;
}

function flip(bytes: Buffer, offset: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset]! ^= 0x01;
  return copy;
}

function patchU64(bytes: Buffer, offset: number, value: bigint): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeBigUInt64LE(value, offset);
  return copy;
}

function patchU32(bytes: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt32LE(value, offset);
  return copy;
}
