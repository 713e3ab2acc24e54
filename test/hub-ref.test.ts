// Unit tests of the hub's model references and file selection (lib/hub/ref.ts, lib/hub/select.ts):
// pure functions, no network.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseModelRef } from '../lib/hub/ref.js';
import {
  availableQuants,
  expandSplitSet,
  globToRegExp,
  matchesQuant,
  quantOf,
  selectFiles,
  splitInfo,
} from '../lib/hub/select.js';

describe('parseModelRef', () => {
  it('reads every documented form', () => {
    assert.deepEqual(parseModelRef('TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF'), { repo: 'TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF' });
    assert.deepEqual(parseModelRef('org/repo:Q4_K_M'), { repo: 'org/repo', quant: 'Q4_K_M' });
    assert.deepEqual(parseModelRef('hf:org/repo:q8_0'), { repo: 'org/repo', quant: 'q8_0' });
    assert.deepEqual(parseModelRef('hf://org/repo:UD-Q4_K_XL'), { repo: 'org/repo', quant: 'UD-Q4_K_XL' });
    assert.deepEqual(parseModelRef('org/repo/model.Q4_K_M.gguf'), { repo: 'org/repo', file: 'model.Q4_K_M.gguf' });
    assert.deepEqual(parseModelRef('hf:org/repo/sub/dir/model.gguf'), { repo: 'org/repo', file: 'sub/dir/model.gguf' });
    assert.deepEqual(parseModelRef('  org/repo  '), { repo: 'org/repo' });
  });

  it('refuses malformed references with a coded RangeError naming the forms', () => {
    for (const bad of ['repo', 'hf:', 'org/', '/repo', 'org//x.gguf', 'org/repo/../x.gguf', 'org/repo/./x', 'org/re po', 'org/-repo', 'org/re--po',
      'org/repo:', 'org/repo:Q4 K', 'org/repo/x.gguf:Q4_K_M', 'org/repo/a\\b.gguf', 'org/repo/x/']) {
      assert.throws(() => parseModelRef(bad), (error: RangeError & { code?: string }) => {
        assert.ok(error instanceof RangeError, bad);
        assert.equal(error.code, 'ERR_INVALID_ARG');
        assert.match(error.message, /Invalid argument "ref": expected a model reference: "org\/repo", "org\/repo:Q4_K_M"/);
        return true;
      });
    }
  });
});

describe('quantisations in file names', () => {
  it('finds the tag as a whole token, case-insensitively', () => {
    assert.equal(quantOf('mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf'), 'Q4_K_M');
    assert.equal(quantOf('Llama-3-8B-Instruct-IQ2_XXS.gguf'), 'IQ2_XXS');
    assert.equal(quantOf('model-f16.gguf'), 'F16');
    assert.equal(quantOf('Qwen3-30B-UD-Q4_K_XL-00001-of-00002.gguf'), 'UD-Q4_K_XL');
    assert.equal(quantOf('README.md'), undefined);
    assert.ok(matchesQuant('m.Q4_K_M.gguf', 'q4_k_m'));
    assert.ok(!matchesQuant('m.Q4_K_M.gguf', 'Q4_K'), 'Q4_K is not Q4_K_M');
    assert.ok(!matchesQuant('m.Q4_0_4_4.gguf', 'Q4_0'));
    assert.ok(!matchesQuant('m-BF16.gguf', 'F16'), 'F16 is not BF16');
    assert.ok(matchesQuant('sub/m-Q8_0-00001-of-00003.gguf', 'Q8_0'));
    assert.ok(!matchesQuant('mmproj-model-f16.gguf', 'F16'), 'projectors are never the model');
    assert.ok(!matchesQuant('m.Q4_K_M.bin', 'Q4_K_M'), 'GGUF files only');
  });
});

describe('split GGUF sets', () => {
  it('expands the first part to all parts, in order', () => {
    assert.deepEqual(splitInfo('a/m-Q8_0-00002-of-00003.gguf'), { prefix: 'a/m-Q8_0', index: 2, count: 3 });
    assert.equal(splitInfo('m-00004-of-00003.gguf'), undefined);
    assert.deepEqual(expandSplitSet('m-00001-of-00003.gguf'), ['m-00001-of-00003.gguf', 'm-00002-of-00003.gguf', 'm-00003-of-00003.gguf']);
    assert.deepEqual(expandSplitSet('m-00002-of-00003.gguf'), ['m-00002-of-00003.gguf'], 'a later part alone is just that part');
    assert.deepEqual(expandSplitSet('m.gguf'), ['m.gguf']);
  });
});

describe('globs (huggingface-cli --include)', () => {
  it('matches like fnmatch: * crosses folders, ? is one character, [] a class', () => {
    assert.ok(globToRegExp('*Q4_K*gguf').test('mixtral.Q4_K_M.gguf'));
    assert.ok(globToRegExp('*.gguf').test('sub/m.gguf'));
    assert.ok(globToRegExp('m.Q?_0.gguf').test('m.Q8_0.gguf'));
    assert.ok(globToRegExp('m.Q[48]_0.gguf').test('m.Q4_0.gguf'));
    assert.ok(!globToRegExp('m.Q[!48]_0.gguf').test('m.Q4_0.gguf'));
    assert.ok(!globToRegExp('m.gguf').test('mXgguf'), 'a dot is literal');
    assert.ok(!globToRegExp('*.gguf').test('m.gguf.txt'));
  });
});

describe('selectFiles', () => {
  const listing = [
    '.gitattributes',
    'README.md',
    'm.Q4_K_M.gguf',
    'm.Q8_0.gguf',
    'big/m-F16-00001-of-00002.gguf',
    'big/m-F16-00002-of-00002.gguf',
    'mmproj-m-f16.gguf',
  ];
  const where = 'org/repo at revision main';

  it('picks by quantisation, a whole split set in order, and by glob', () => {
    assert.deepEqual(selectFiles(listing, { quant: 'q8_0' }, where), ['m.Q8_0.gguf']);
    assert.deepEqual(selectFiles(listing, { quant: 'F16' }, where), ['big/m-F16-00001-of-00002.gguf', 'big/m-F16-00002-of-00002.gguf']);
    assert.deepEqual(selectFiles(listing, {}, where), ['m.Q4_K_M.gguf'], "llama.cpp's default quantisation");
    assert.deepEqual(selectFiles(listing, { include: ['*Q*gguf'] }, where), ['m.Q4_K_M.gguf', 'm.Q8_0.gguf']);
    assert.deepEqual(selectFiles(listing, { include: ['big/*00001*'] }, where), ['big/m-F16-00001-of-00002.gguf', 'big/m-F16-00002-of-00002.gguf']);
    assert.deepEqual(selectFiles(listing, { file: 'README.md' }, where), ['README.md'], 'a named file needs no listing');
    assert.deepEqual(availableQuants(listing), ['F16', 'Q4_K_M', 'Q8_0']);
  });

  it('says what exists when nothing matches', () => {
    assert.throws(() => selectFiles(listing, { quant: 'Q2_K' }, where), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_NOT_FOUND');
      assert.match(error.message, /no GGUF file of quantisation Q2_K/);
      assert.match(error.message, /Available quantisations: F16, Q4_K_M, Q8_0/);
      return true;
    });
    assert.throws(() => selectFiles(listing, { include: ['*.safetensors'] }, where), /No file of org\/repo at revision main matches "\*\.safetensors"\. GGUF files in the repository: big\/m-F16-00001-of-00002.gguf \(F16, 2 parts\)/);
    assert.throws(() => selectFiles(['m-Q8_0-00001-of-00002.gguf'], { quant: 'Q8_0' }, where), /incomplete; missing m-Q8_0-00002-of-00002.gguf/);
    assert.throws(() => selectFiles(['a.Q8_0.gguf', 'b.Q5_K_S.gguf'], {}, where), /no quantisation was named and there is no Q4_K_M file\. Available quantisations: Q5_K_S, Q8_0/);
    assert.deepEqual(selectFiles(['only.Q8_0.gguf', 'README.md'], {}, where), ['only.Q8_0.gguf'], 'one model file is the answer');
  });
});
