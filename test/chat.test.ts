// Chat formatting to the token, chat generation, prompt caching and chat sessions.
// The fixture carries Mixtral-8x7B-Instruct's own template text (test/fixtures/templates.ts);
// the expected tokens are built with the model card's recipe, each piece tokenized alone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chatTemplateNames } from '../lib/builtin-templates.js';
import type { ChatMessage } from '../lib/chat-template.js';
import type { Context } from '../lib/context.js';
import { isLlamaError } from '../lib/errors.js';
import { loadModel, type Model } from '../lib/model.js';
import { fixtureModel } from './fixtures/models.js';

const CONTEXT = { contextSize: 512, batchSize: 128, threads: 2 } as const;
const GREEDY = { temperature: 0, repeatPenalty: 1 } as const;

let model: Model;
let context: Context;

before(async () => {
  model = await loadModel(await fixtureModel({ kind: 'moe', type: 'F32' }));
  context = await model.createContext(CONTEXT);
});

after(async () => {
  await model?.dispose();
});

/** Each piece tokenized on its own, no BOS: the recipe's `tokenize()`. */
function tok(text: string): number[] {
  return model.tokenize(text, { addSpecial: false });
}

/** The Mixtral model card's recipe for a conversation ending with a user message. */
function recipe(messages: ChatMessage[]): number[] {
  const out = [model.info.bosToken];
  for (const m of messages) {
    if (m.role === 'user') out.push(...tok('[INST]'), ...tok(m.content), ...tok('[/INST]'));
    else out.push(...tok(m.content), model.info.eosToken);
  }
  return out;
}

const CONVERSATIONS: ChatMessage[][] = [
  [{ role: 'user', content: 'Hello' }],
  [
    { role: 'user', content: 'What is your favourite condiment?' },
    { role: 'assistant', content: "Well, I'm quite partial to a good squeeze of fresh lemon juice." },
    { role: 'user', content: 'Do you have mayonnaise recipes?' },
  ],
  [
    { role: 'user', content: 'Ünïcödé — 日本語 🦙 and tabs\tand\nnewlines' },
    { role: 'assistant', content: 'Sure: «ok» ✓' },
    { role: 'user', content: '  leading and trailing spaces  ' },
    { role: 'assistant', content: '[INST] inside an answer [/INST]' },
    { role: 'user', content: 'last' },
  ],
];

describe('applyChatTemplate', () => {
  it('renders the model card format as text', () => {
    const text = model.applyChatTemplate(CONVERSATIONS[1]!);
    assert.equal(
      text,
      '[INST] What is your favourite condiment? [/INST]' +
        "Well, I'm quite partial to a good squeeze of fresh lemon juice.</s>" +
        '[INST] Do you have mayonnaise recipes? [/INST]',
    );
  });

  for (const [i, messages] of CONVERSATIONS.entries()) {
    it(`gives exactly the model card's tokens (conversation ${i + 1})`, () => {
      assert.deepEqual(model.applyChatTemplate(messages, { tokenize: true }), recipe(messages));
    });
  }

  it('gives the same tokens with the built-in mistral-v1 template, whose text has other spaces', () => {
    for (const messages of CONVERSATIONS) {
      assert.deepEqual(model.applyChatTemplate(messages, { tokenize: true, template: 'mistral-v1' }), recipe(messages));
    }
  });

  it('adds BOS once', () => {
    const tokens = model.applyChatTemplate(CONVERSATIONS[0]!, { tokenize: true });
    assert.equal(tokens.filter((t) => t === model.info.bosToken).length, 1);
    assert.equal(tokens[0], model.info.bosToken);
  });

  it('keeps special-token text in messages as text unless asked', () => {
    const messages = [{ role: 'user', content: 'a </s> b <s> c' }];
    const { bosToken, eosToken } = model.info;
    const plain = model.applyChatTemplate(messages, { tokenize: true });
    assert.deepEqual(plain, recipe(messages));
    assert.equal(plain.filter((t) => t === eosToken).length, 0);
    assert.equal(plain.filter((t) => t === bosToken).length, 1);
    const parsed = model.applyChatTemplate(messages, { tokenize: true, specialTokensInContent: true });
    assert.equal(parsed.filter((t) => t === eosToken).length, 1);
    assert.equal(parsed.filter((t) => t === bosToken).length, 2);
  });

  it('ends with the assistant opening only when asked', () => {
    const messages = CONVERSATIONS[1]!.slice(0, 2);
    const closed = model.applyChatTemplate(messages, { tokenize: true, addAssistant: false });
    assert.equal(closed.at(-1), model.info.eosToken);
    assert.deepEqual(closed, [...recipe(messages.slice(0, 1)), ...tok(messages[1]!.content), model.info.eosToken]);
  });

  it('puts a system message in front of the first user message (the template has no system role)', () => {
    const messages = [
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'Hello' },
    ];
    assert.equal(model.applyChatTemplate(messages), '[INST] Answer in French.\nHello [/INST]');
    assert.deepEqual(model.applyChatTemplate(messages, { tokenize: true }), [
      model.info.bosToken,
      ...tok('[INST]'),
      ...tok('Answer in French.\nHello'),
      ...tok('[/INST]'),
    ]);
  });

  it('tokenizes other templates as one text, split only at special tokens', () => {
    const messages = CONVERSATIONS[1]!;
    const text = model.applyChatTemplate(messages, { template: 'chatml' });
    assert.ok(text.startsWith('<|im_start|>user\n'));
    // This vocabulary has no ChatML tokens: the whole text is plain text after BOS.
    assert.deepEqual(model.applyChatTemplate(messages, { template: 'chatml', tokenize: true }), model.tokenize(text));
  });

  it('lists the built-in templates', () => {
    const names = chatTemplateNames();
    for (const name of ['chatml', 'llama2', 'mistral-v1', 'mistral-v7']) assert.ok(names.includes(name), name);
  });

  it('rejects an unknown template with ERR_CHAT_TEMPLATE', () => {
    assert.throws(
      () => model.applyChatTemplate(CONVERSATIONS[0]!, { template: 'no such template {{ x }}' }),
      (error) => isLlamaError(error, 'ERR_CHAT_TEMPLATE'),
    );
  });

  it('validates its arguments', () => {
    assert.throws(() => model.applyChatTemplate('hi' as never), /Invalid argument "messages": expected an array/);
    assert.throws(() => model.applyChatTemplate([{ role: '', content: 'x' }]), TypeError);
    assert.throws(() => model.applyChatTemplate([{ role: 'user', content: 3 as never }]), /messages\[0\]\.content/);
    assert.throws(() => model.applyChatTemplate([{ role: 'user', content: 'a\0b' }]), RangeError);
    assert.throws(() => model.applyChatTemplate([], { template: '' }), /Invalid option "template"/);
    assert.throws(() => model.applyChatTemplate([], { addAsistant: true } as never), /addAsistant/);
  });
});

describe('prompt cache', () => {
  it('keeps the common prefix and gives the same tokens as evaluating from scratch', async () => {
    const prompt = tok('The same words again and again, the same words');
    const first = await context.generate(prompt, { ...GREEDY, maxTokens: 6 }).result;
    const again = await context.generate(prompt, { ...GREEDY, maxTokens: 6 }).result;
    assert.equal(again.cachedTokens, prompt.length - 1); // the last token is evaluated again for its logits
    assert.deepEqual(again.tokens, first.tokens);
    const fresh = await context.generate(prompt, { ...GREEDY, maxTokens: 6, cachePrompt: false }).result;
    assert.equal(fresh.cachedTokens, 0);
    assert.deepEqual(fresh.tokens, first.tokens);
  });

  it('continues after generated tokens: they are in the cache too', async () => {
    const prompt = tok('Once upon a time');
    const first = await context.generate(prompt, { ...GREEDY, maxTokens: 5 }).result;
    const longer = [...prompt, ...first.tokens, ...tok('and then')];
    const next = await context.generate(longer, { ...GREEDY, maxTokens: 5 }).result;
    // All but the last generated token were decoded (generation stopped before decoding it).
    assert.equal(next.cachedTokens, prompt.length + first.tokens.length - 1);
    const fresh = await context.generate(longer, { ...GREEDY, maxTokens: 5, cachePrompt: false }).result;
    assert.deepEqual(next.tokens, fresh.tokens);
  });

  it('starts over after a different prompt and after evaluate()', async () => {
    await context.generate(tok('alpha beta gamma'), { ...GREEDY, maxTokens: 2 }).result;
    const other = await context.generate(tok('zeta eta theta'), { ...GREEDY, maxTokens: 2 }).result;
    assert.equal(other.cachedTokens, 0);
    await context.evaluate(tok('zeta eta'));
    const after = await context.generate(tok('zeta eta theta'), { ...GREEDY, maxTokens: 2 }).result;
    assert.equal(after.cachedTokens, tok('zeta eta').length);
  });

  it('is correct after an aborted generation', async () => {
    const prompt = tok('Abort me soon please');
    const controller = new AbortController();
    const generation = context.generate(prompt, { ...GREEDY, signal: controller.signal });
    for await (const chunk of generation) if (chunk.tokens.length > 0) break;
    const resumed = await context.generate(prompt, { ...GREEDY, maxTokens: 4 }).result;
    const fresh = await context.generate(prompt, { ...GREEDY, maxTokens: 4, cachePrompt: false }).result;
    assert.deepEqual(resumed.tokens, fresh.tokens);
  });
});

describe('Context.chat', () => {
  it('generates from the formatted conversation', async () => {
    const messages = CONVERSATIONS[1]!;
    const chat = await context.chat(messages, { ...GREEDY, maxTokens: 6, cachePrompt: false }).result;
    const direct = await context.generate(recipe(messages), { ...GREEDY, maxTokens: 6, cachePrompt: false }).result;
    assert.equal(chat.promptTokens, recipe(messages).length);
    assert.deepEqual(chat.tokens, direct.tokens);
  });

  it('validates options, template options included', () => {
    assert.throws(() => context.chat(CONVERSATIONS[0]!, { template: 7 } as never), /Invalid option "template"/);
    assert.throws(() => context.chat(CONVERSATIONS[0]!, { temperature: -1 }), /Invalid option "temperature"/);
    assert.throws(() => context.chat(CONVERSATIONS[0]!, { temprature: 1 } as never), /temprature/);
  });
});

describe('ChatSession', () => {
  it('evaluates only the new tokens of each turn and answers as a fresh evaluation would', async () => {
    const session = context.createChatSession();
    const questions = ['First question', 'Second one, a little longer', 'Third'];
    let history: number[] = [];
    let decodedOfHistory = 0; // the last generated token is only decoded if generation went on
    for (const [turn, question] of questions.entries()) {
      const result = await session.send(question, { ...GREEDY, maxTokens: 8 }).result;
      const newTokens = turn === 0 ? recipe([{ role: 'user', content: question }]) : [...tok('[INST]'), ...tok(question), ...tok('[/INST]')];
      const prompt = [...history, ...newTokens];
      assert.equal(result.promptTokens, prompt.length, `turn ${turn + 1} prompt length`);
      // What is cached: the previous prompt and every generated token but the last.
      if (turn > 0) assert.equal(result.cachedTokens, decodedOfHistory, `turn ${turn + 1} cached`);
      const fresh = await context.generate(prompt, { ...GREEDY, maxTokens: 8, cachePrompt: false }).result;
      assert.deepEqual(result.tokens, fresh.tokens, `turn ${turn + 1} tokens`);
      history = [...prompt, ...result.tokens, model.info.eosToken];
      decodedOfHistory = prompt.length + result.tokens.length - (result.finishReason === 'length' ? 1 : 0);
      // The fresh evaluation replaced the context's cache: put the session's back.
      await context.generate(prompt, { ...GREEDY, maxTokens: 8 }).result;
    }
    const messages = session.messages;
    assert.equal(messages.length, 6);
    assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    assert.equal(messages[2]!.content, questions[1]);
  });

  it('runs one turn at a time', async () => {
    const session = context.createChatSession();
    const first = session.send('one', { ...GREEDY, maxTokens: 3 });
    assert.throws(() => session.send('two'), (error) => isLlamaError(error, 'ERR_BUSY'));
    assert.equal(session.busy, true);
    await first.result;
    assert.equal(session.busy, false);
    await session.send('two', { ...GREEDY, maxTokens: 3 }).result;
    assert.equal(session.messages.length, 4);
  });

  it('is updated when the for-await loop ends', async () => {
    const session = context.createChatSession();
    for await (const chunk of session.send('stream me', { ...GREEDY, maxTokens: 3 })) void chunk;
    assert.equal(session.busy, false);
    assert.equal(session.messages.length, 2);
  });

  it('keeps the conversation unchanged after a failed turn', async () => {
    const small = await model.createContext({ ...CONTEXT, contextSize: 256 });
    try {
      const session = small.createChatSession({ contextOverflow: 'error' });
      await assert.rejects(session.send('word '.repeat(small.size)).result, (error) => isLlamaError(error, 'ERR_CONTEXT_FULL'));
      assert.equal(session.busy, false);
      assert.equal(session.messages.length, 0);
    } finally {
      await small.dispose();
    }
  });

  it("drops the oldest turns but keeps the system prompt when the context fills ('dropOldestTurns')", async () => {
    // llama.cpp rounds context sizes up to 256 tokens.
    const small = await model.createContext({ ...CONTEXT, contextSize: 256 });
    try {
      const session = small.createChatSession({ systemPrompt: 'Be brief.' });
      let dropped = false;
      for (let turn = 0; turn < 12; turn++) {
        const before = session.messages.length;
        const result = await session.send(`Question ${turn} about something`, { ...GREEDY, maxTokens: 16 }).result;
        const room = small.size - result.promptTokens;
        assert.ok(room >= 16, `turn ${turn}: prompt ${result.promptTokens} leaves ${room} tokens for the reply`);
        if (session.messages.length < before + 2) dropped = true;
        assert.deepEqual(session.messages[0], { role: 'system', content: 'Be brief.' });
        assert.equal(session.messages.at(-2)!.content, `Question ${turn} about something`);
      }
      assert.ok(dropped, 'old turns were dropped');
    } finally {
      await small.dispose();
    }
  });

  it('starts from given messages and validates its options', () => {
    const session = context.createChatSession({ messages: CONVERSATIONS[1]!.slice(0, 2) });
    assert.equal(session.messages.length, 2);
    assert.throws(() => context.createChatSession({ contextOverflow: 'wrap' as never }), /Invalid option "contextOverflow"/);
    assert.throws(() => context.createChatSession({ reserveTokens: -1 }), /Invalid option "reserveTokens"/);
    assert.throws(() => context.createChatSession({ messages: 'x' as never }), /Invalid argument "messages"/);
    assert.throws(() => session.send(5 as never), /Invalid argument "text"/);
  });
});
