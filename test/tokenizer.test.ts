/**
 * Tokenization equals llama.cpp's own test vectors for the Llama/Mistral SPM vocabulary
 * (vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf.inp/.out, as tests/test-tokenizer-0.cpp
 * reads them: inputs separated by a marker line, one line of expected ids per input,
 * tokenized without special tokens).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { loadModel, type Model } from '../lib/index.js';
import { vocabPath } from './fixtures/models.js';

const SEPARATOR = '\n__ggml_vocab_test__\n';

function readVectors(): Array<{ input: string; expected: number[] }> {
  const inputs = readFileSync(`${vocabPath()}.inp`, 'utf8').split(SEPARATOR);
  // The file ends with a separator, which leaves one empty trailing piece.
  if (inputs.at(-1) === '') inputs.pop();
  const outputs = readFileSync(`${vocabPath()}.out`, 'utf8').split('\n');
  if (outputs.at(-1) === '') outputs.pop();
  assert.equal(inputs.length, outputs.length, 'the .inp and .out files must hold the same number of cases');
  return inputs.map((input, i) => ({
    input,
    expected: outputs[i]!.trim() === '' ? [] : outputs[i]!.trim().split(/\s+/).map(Number),
  }));
}

describe('tokenizer (llama.cpp test vectors, ggml-vocab-llama-spm)', () => {
  let model: Model;
  const vectors = readVectors();

  before(async () => {
    model = await loadModel(vocabPath(), { vocabOnly: true });
  });
  after(() => model.dispose());

  it('has the test cases', () => {
    assert.ok(vectors.length >= 40, `only ${vectors.length} cases`);
  });

  it('tokenizes every case exactly as llama.cpp expects', () => {
    for (const { input, expected } of vectors) {
      assert.deepEqual(model.tokenize(input, { addSpecial: false }), expected, `input ${JSON.stringify(input)}`);
    }
  });

  it('detokenizes every case back to its input (SPM adds a leading space it removes again)', () => {
    for (const { input, expected } of vectors) {
      if (expected.length === 0) continue;
      assert.equal(model.detokenize(expected), input, `input ${JSON.stringify(input)}`);
    }
  });

  it('adds BOS when the model asks for it and keeps special-token text as text', () => {
    assert.equal(model.info.addBos, true);
    const withBos = model.tokenize('Hello', { addSpecial: true });
    assert.equal(withBos[0], model.info.bosToken);
    assert.deepEqual(withBos.slice(1), model.tokenize('Hello', { addSpecial: false }));
    const typed = model.tokenize('</s>', { addSpecial: false });
    assert.ok(!typed.includes(model.info.eosToken), '</s> typed by a user must not become EOS');
    assert.deepEqual(model.tokenize('</s>', { addSpecial: false, parseSpecial: true }), [model.info.eosToken]);
  });

  it('round-trips arbitrary Unicode text (seeded random strings from every plane)', () => {
    let state = 12345;
    const random = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    // Ranges that stress the tokenizer: ASCII, controls, Latin, combining marks, RTL, CJK, the
    // private use area, emoji (with ZWJ and skin tones), astral planes up to U+10FFFF.
    const ranges: Array<[number, number]> = [
      [0x20, 0x7e], [0x01, 0x1f], [0xa0, 0x24f], [0x300, 0x36f], [0x590, 0x6ff], [0x4e00, 0x9fff],
      [0xe000, 0xf8ff], [0x1f300, 0x1faff], [0x200d, 0x200d], [0x1f3fb, 0x1f3ff], [0x10000, 0x10ffff],
    ];
    for (let i = 0; i < 300; i++) {
      let text = '';
      const length = 1 + random(40);
      for (let j = 0; j < length; j++) {
        const [lo, hi] = ranges[random(ranges.length)]!;
        const code = lo + random(hi - lo + 1);
        if (code >= 0xd800 && code <= 0xdfff) continue;
        text += String.fromCodePoint(code);
      }
      const tokens = model.tokenize(text, { addSpecial: false });
      // SentencePiece adds a leading space when tokenizing and drops it when detokenizing.
      assert.equal(model.detokenize(tokens), text, `case ${i}: ${JSON.stringify(text)}`);
    }
  });

  it('turns lone surrogates into U+FFFD, and keeps NUL characters', () => {
    const tokens = model.tokenize('a\uD800b\0c', { addSpecial: false });
    assert.equal(model.detokenize(tokens), 'a\uFFFDb\0c');
  });
});
