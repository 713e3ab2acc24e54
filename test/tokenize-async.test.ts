// Tokenizing off the JS thread: Model.tokenizeAsync and Model.applyChatTemplateAsync give
// exactly what their synchronous twins give, leave the event loop running meanwhile, and fail
// the same ways (as rejections).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChatMessage } from '../lib/chat-template.js';
import { isLlamaError } from '../lib/errors.js';
import { loadModel, type Model } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';

let model: Model;

before(async () => {
  model = await loadModel(await fixtureModel({ kind: 'moe', type: 'F32' }), { vocabOnly: true });
});

after(async () => {
  await model?.dispose();
});

/** Deterministic text of about `chars` UTF-16 units: words, punctuation, non-Latin script, emoji. */
function longText(chars: number): string {
  const words = ['the', 'llama', 'Mixtral', 'expert', '日本語', 'naïve', '🦙', '</s>', '[INST]', '3.14', '\n', 'ünïcödé,', 'a'];
  let text = '';
  for (let i = 0; text.length < chars; i++) text += words[(i * 7 + (i >> 3)) % words.length] + (i % 11 === 0 ? '  ' : ' ');
  return text;
}

const TEXTS = ['', 'Hello', ' leading space', 'a </s> b <s> c', 'lone \uD800 surrogate', longText(5_000), longText(120_000)];

describe('tokenizeAsync', () => {
  for (const options of [undefined, { addSpecial: false }, { parseSpecial: true }, { addSpecial: false, parseSpecial: true }]) {
    it(`equals tokenize (${JSON.stringify(options) ?? 'defaults'})`, async () => {
      for (const text of TEXTS) {
        assert.deepEqual(await model.tokenizeAsync(text, options), model.tokenize(text, options), `text of length ${text.length}`);
      }
    });
  }

  it('leaves the event loop running while it works', async () => {
    const text = longText(400_000); // hundreds of milliseconds of tokenizing
    let ticks = 0;
    let done = false;
    const tick = (): void => {
      ticks++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const tokens = await model.tokenizeAsync(text, { addSpecial: false });
    done = true;
    assert.ok(tokens.length > 50_000, `${tokens.length} tokens`);
    assert.ok(ticks > 1, `the event loop turned ${ticks} times while tokenizing`);
  });

  it('rejects invalid arguments as the synchronous call throws them', async () => {
    await assert.rejects(model.tokenizeAsync(7 as never), TypeError);
    await assert.rejects(model.tokenizeAsync('x', { addSpecial: 'yes' } as never), /addSpecial/);
    await assert.rejects(model.tokenizeAsync('x', { nope: true } as never), /nope/);
  });

  it('completes a call that was running when the model was disposed, and rejects ERR_DISPOSED after', async () => {
    const other = await loadModel(await fixtureModel({ kind: 'moe', type: 'F32' }), { vocabOnly: true });
    const expected = other.tokenize(TEXTS[5]!);
    const running = other.tokenizeAsync(TEXTS[5]!);
    await other.dispose();
    assert.deepEqual(await running, expected);
    await assert.rejects(other.tokenizeAsync('x'), (error: unknown) => isLlamaError(error) && error.code === 'ERR_DISPOSED');
  });
});

describe('applyChatTemplateAsync', () => {
  const conversations: ChatMessage[][] = [
    [{ role: 'user', content: 'Hello' }],
    [
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: longText(3_000) },
      { role: 'assistant', content: 'Sure: «ok» ✓ </s> [INST] inside [/INST]' },
      { role: 'user', content: '  leading and trailing spaces  ' },
    ],
    [{ role: 'user', content: longText(60_000) }],
  ];

  for (const template of [undefined, 'mistral-v1', 'chatml', 'llama3']) {
    it(`equals applyChatTemplate (template ${template ?? "the model's own"})`, async () => {
      for (const messages of conversations) {
        for (const extra of [{}, { specialTokensInContent: true }, { addAssistant: false }]) {
          const options = { ...extra, ...(template === undefined ? {} : { template }) };
          assert.deepEqual(
            await model.applyChatTemplateAsync(messages, { ...options, tokenize: true }),
            model.applyChatTemplate(messages, { ...options, tokenize: true }),
            JSON.stringify(options),
          );
          assert.equal(await model.applyChatTemplateAsync(messages, options), model.applyChatTemplate(messages, options));
        }
      }
    });
  }

  it('rejects what applyChatTemplate throws', async () => {
    await assert.rejects(
      model.applyChatTemplateAsync([{ role: 'user', content: 'x' }], { template: 'no such template {{ x }}', tokenize: true }),
      (error: unknown) => isLlamaError(error) && error.code === 'ERR_CHAT_TEMPLATE',
    );
    await assert.rejects(model.applyChatTemplateAsync('x' as never), TypeError);
  });
});
