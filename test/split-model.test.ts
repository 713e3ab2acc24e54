// Split GGUF models (`name-00001-of-00003.gguf` …): loadModel of the first part loads the whole
// model, exactly as the unsplit file; a missing, foreign or broken part, or a later part given
// first, is ERR_MODEL_LOAD naming the part, before llama.cpp parses anything.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModel } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';
import { splitModel } from './fixtures/split.js';

const GREEDY = { temperature: 0, maxTokens: 8 } as const;
const PROMPT = 'The quick brown fox';

let dir: string;
let whole: string;
let parts: string[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llama-napi-split-'));
  whole = await fixtureModel({ kind: 'moe', type: 'Q8_0' });
  parts = await splitModel(whole, dir, 3, 'model-Q8_0');
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function greedy(path: string): Promise<{ tokens: number[]; fileSize: number; parameterCount: number }> {
  const model = await loadModel(path);
  try {
    const context = await model.createContext({ contextSize: 128 });
    const { tokens } = await context.generate(PROMPT, GREEDY).result;
    return { tokens, fileSize: model.info.fileSize, parameterCount: model.info.parameterCount };
  } finally {
    await model.dispose();
  }
}

describe('split models', () => {
  it('loads from the first part and generates exactly as the unsplit file', async () => {
    assert.match(parts[0]!, /model-Q8_0-00001-of-00003\.gguf$/);
    const a = await greedy(whole);
    const b = await greedy(parts[0]!);
    assert.deepEqual(b.tokens, a.tokens);
    assert.equal(b.parameterCount, a.parameterCount);
    assert.ok(b.fileSize > a.fileSize, 'fileSize counts every part (each has a header of its own)');
  });

  it('a vocabulary-only load of a split model describes the whole model', async () => {
    const full = await loadModel(whole, { vocabOnly: true });
    const split = await loadModel(parts[0]!, { vocabOnly: true });
    assert.equal(split.info.parameterCount, full.info.parameterCount);
    assert.equal(split.info.sizeBytes, full.info.sizeBytes);
    await Promise.all([full.dispose(), split.dispose()]);
  });

  it('refuses a later part, a missing part and a broken part with ERR_MODEL_LOAD naming it', async () => {
    await assert.rejects(loadModel(parts[1]!), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_MODEL_LOAD');
      assert.match(e.message, /part 2 of a 3-part split model: load the first part/);
      return true;
    });

    const lone = await splitModel(whole, dir, 2, 'gone');
    await rm(lone[1]!);
    await assert.rejects(loadModel(lone[0]!), /part 2 of 2 of the split model is missing: .*gone-00002-of-00002\.gguf/);

    const broken = await splitModel(whole, dir, 2, 'broken');
    await truncate(broken[1]!, 40);
    await assert.rejects(loadModel(broken[0]!), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_MODEL_LOAD');
      assert.match(e.message, /part 2 of 2 \(.*broken-00002-of-00002\.gguf\)/);
      return true;
    });

    // A part of another model under the expected name.
    const mixed = await splitModel(whole, dir, 3, 'mixed');
    const other = await splitModel(whole, dir, 2, 'other');
    await copyFile(other[1]!, mixed[2]!);
    await assert.rejects(loadModel(mixed[0]!), /does not say it is part 3 of 3/);
  });

  it('refuses a first part renamed away from the split naming', async () => {
    const renamed = join(dir, 'renamed.gguf');
    await copyFile(parts[0]!, renamed);
    await assert.rejects(loadModel(renamed), /load a name ending in -00001-of-00003\.gguf/);
  });
});
