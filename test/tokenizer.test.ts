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
});
