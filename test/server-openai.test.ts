// The server against the official `openai` client (6.x), over real HTTP on 127.0.0.1: what a
// user's application sees. F32 fixture, greedy sampling where text is compared.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { fixtureModel } from './fixtures/models.js';
import { metric, raw, start, until, type Started } from './child/server-helpers.js';

const MODEL = 'fixture-llama';
let chat: Started;
let client: OpenAI;

before(async () => {
  chat = await start({ model: await fixtureModel({ kind: 'llama', type: 'F32' }), modelName: MODEL, parallel: 2, context: { contextSize: 1024, threads: 2 } });
  client = new OpenAI({ baseURL: `${chat.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await chat?.server.close();
});

const question = [{ role: 'user' as const, content: 'Name a colour' }];

describe('openai client: chat completions', () => {
  it('lists the model', async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), [MODEL]);
    assert.equal((await client.models.retrieve(MODEL)).id, MODEL);
  });

  it('answers without streaming, and streams the same text with usage last', async () => {
    const whole = await client.chat.completions.create({ model: MODEL, messages: question, max_tokens: 8, temperature: 0 });
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.choices.length, 1);
    assert.equal(whole.choices[0]!.message.role, 'assistant');
    assert.equal(whole.choices[0]!.finish_reason, 'length');
    assert.equal(whole.usage?.completion_tokens, 8);
    assert.equal(whole.usage?.total_tokens, whole.usage!.prompt_tokens + 8);
    assert.ok(whole.choices[0]!.message.content!.length > 0);

    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: question,
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    assert.equal(text, whole.choices[0]!.message.content);
    const final = chunks.at(-2)!;
    assert.equal(final.choices[0]!.finish_reason, 'length');
    const usage = chunks.at(-1)!;
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage?.completion_tokens, 8);
    // The same prompt again: everything but its last token comes from the sequence's cache.
    assert.equal(usage.usage?.prompt_tokens_details?.cached_tokens, usage.usage!.prompt_tokens - 1);
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id));
  });

  it("evaluates only a conversation's new turn (cached_tokens)", async () => {
    const system = { role: 'system' as const, content: 'You answer in one word.' };
    const first = await client.chat.completions.create({ model: MODEL, messages: [system, ...question], max_tokens: 6, temperature: 0 });
    const reply = first.choices[0]!.message.content!;
    const second = await client.chat.completions.create({
      model: MODEL,
      messages: [system, ...question, { role: 'assistant', content: reply }, { role: 'user', content: 'Another one' }],
      max_tokens: 6,
      temperature: 0,
    });
    const cached = second.usage!.prompt_tokens_details!.cached_tokens!;
    assert.ok(cached >= first.usage!.prompt_tokens - 1, `cached ${cached} of ${second.usage!.prompt_tokens}`);
    assert.ok(cached < second.usage!.prompt_tokens);
  });

  it('follows response_format json_schema', async () => {
    const schema = {
      type: 'object',
      properties: { colour: { enum: ['red', 'green', 'blue'] }, shade: { type: 'integer', minimum: 0, maximum: 9 } },
      required: ['colour', 'shade'],
      additionalProperties: false,
    };
    const response = await client.chat.completions.create({
      model: MODEL,
      messages: question,
      max_tokens: 48,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'colour', schema, strict: true } },
    });
    assert.equal(response.choices[0]!.finish_reason, 'stop');
    const value = JSON.parse(response.choices[0]!.message.content!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(value).sort(), ['colour', 'shade']);
    assert.ok(['red', 'green', 'blue'].includes(value['colour'] as string));
    assert.ok(Number.isInteger(value['shade']) && (value['shade'] as number) >= 0 && (value['shade'] as number) <= 9);
  });

  it('surfaces an invalid request as OpenAI.BadRequestError', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: MODEL, messages: question, temperature: 5 }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal(error.status, 400);
        assert.equal(error.param, 'temperature');
        assert.equal(error.type, 'invalid_request_error');
        return true;
      },
    );
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: question, n: 2 }), OpenAI.BadRequestError);
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: question, logprobs: true, top_logprobs: 21 }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.param, 'top_logprobs');
      return true;
    });
    const long = 'word '.repeat(2000);
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: long }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal(error.code, 'context_length_exceeded');
      assert.match(error.message, /prompt has \d+ tokens but a request can hold 512/);
      return true;
    });
  });
});

describe('openai client: completions', () => {
  it('completes text and token prompts, streamed or not', async () => {
    const whole = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
    assert.equal(whole.object, 'text_completion');
    assert.equal(whole.choices[0]!.finish_reason, 'length');
    assert.equal(whole.usage?.completion_tokens, 6);
    const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]!.text;
      finish = chunk.choices[0]!.finish_reason ?? finish;
    }
    assert.equal(text, whole.choices[0]!.text);
    assert.equal(finish, 'length');
    const tokens = JSON.parse((await raw(chat.port, { method: 'POST', path: '/tokenize', body: { content: 'Once upon a time', add_special: true } })).text).tokens;
    const fromTokens = await client.completions.create({ model: MODEL, prompt: tokens, max_tokens: 6, temperature: 0 });
    assert.equal(fromTokens.choices[0]!.text, whole.choices[0]!.text);
  });

  it('stops at a stop string', async () => {
    const free = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
    const stopAt = free.choices[0]!.text.slice(3, 6);
    const stopped = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, stop: [stopAt] });
    assert.equal(stopped.choices[0]!.finish_reason, 'stop');
    assert.equal(stopped.choices[0]!.text, free.choices[0]!.text.slice(0, free.choices[0]!.text.indexOf(stopAt)));
  });
});

describe('openai client: logprobs', () => {
  type ChatTokenLogprob = OpenAI.Chat.Completions.ChatCompletionTokenLogprob;

  function assertChatLogprobs(content: ChatTokenLogprob[], text: string, top: number): void {
    assert.equal(content.map((entry) => entry.token).join(''), text, 'the tokens spell the text');
    for (const entry of content) {
      assert.equal(Buffer.from(entry.bytes!).toString('utf8'), entry.token);
      assert.ok(entry.logprob <= 0);
      assert.equal(entry.top_logprobs.length, top);
      assert.equal(entry.top_logprobs[0]!.token, entry.token, 'greedy: the chosen token is the most likely');
      assert.equal(entry.top_logprobs[0]!.logprob, entry.logprob);
      for (let i = 1; i < top; i++) assert.ok(entry.top_logprobs[i]!.logprob <= entry.top_logprobs[i - 1]!.logprob);
    }
  }

  it('chat: logprobs and top_logprobs, the same streamed as answered whole', async () => {
    const request = { model: MODEL, messages: question, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 } as const;
    const whole = await client.chat.completions.create(request);
    const content = whole.choices[0]!.logprobs!.content!;
    assert.equal(content.length, 6);
    assertChatLogprobs(content, whole.choices[0]!.message.content!, 3);

    const stream = await client.chat.completions.create({ ...request, stream: true });
    const streamed: ChatTokenLogprob[] = [];
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    }
    assert.equal(text, whole.choices[0]!.message.content);
    assertChatLogprobs(streamed, text, 3);
    assert.deepEqual(
      streamed.map((e) => e.token),
      content.map((e) => e.token),
    );
    for (const [i, entry] of streamed.entries()) assert.ok(Math.abs(entry.logprob - content[i]!.logprob) < 1e-3);

    const none = await client.chat.completions.create({ model: MODEL, messages: question, max_tokens: 2, temperature: 0 });
    assert.equal(none.choices[0]!.logprobs, null);
  });

  it('completions: the legacy logprobs arrays with text offsets', async () => {
    const request = { model: MODEL, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, logprobs: 2 } as const;
    const whole = await client.completions.create(request);
    const { text } = whole.choices[0]!;
    const logprobs = whole.choices[0]!.logprobs!;
    assert.equal(logprobs.tokens!.join(''), text);
    assert.equal(logprobs.token_logprobs!.length, 6);
    assert.equal(logprobs.top_logprobs!.length, 6);
    let offset = 0;
    for (const [i, token] of logprobs.tokens!.entries()) {
      assert.equal(logprobs.text_offset![i], offset);
      assert.equal(text.slice(offset, offset + token.length), token);
      offset += token.length;
      const alternatives = logprobs.top_logprobs![i]!;
      assert.ok(Object.keys(alternatives).length >= 1 && Object.keys(alternatives).length <= 2);
      assert.equal(Math.max(...Object.values(alternatives)), alternatives[token], 'greedy: the chosen token is the most likely');
    }

    const stream = await client.completions.create({ ...request, stream: true });
    const tokens: string[] = [];
    const offsets: number[] = [];
    for await (const chunk of stream) {
      tokens.push(...(chunk.choices[0]!.logprobs?.tokens ?? []));
      offsets.push(...(chunk.choices[0]!.logprobs?.text_offset ?? []));
    }
    assert.deepEqual(tokens, logprobs.tokens);
    assert.deepEqual(offsets, logprobs.text_offset);
  });
});

describe('openai client: abort', () => {
  it('stream.controller.abort() frees the sequence for the next request', async () => {
    const stream = await client.chat.completions.create({ model: MODEL, messages: question, max_tokens: 400, stream: true });
    let seen = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) seen++;
      if (seen === 2) stream.controller.abort();
    }
    await until(async () => (await metric(chat.port, 'llama_napi_active_sequences')) === 0, 5000, 'active sequences back to 0');
    const next = await client.chat.completions.create({ model: MODEL, messages: question, max_tokens: 4, temperature: 0 });
    assert.equal(next.usage?.completion_tokens, 4);
    assert.ok((await metric(chat.port, 'llama_napi_requests_total{endpoint="/v1/chat/completions",status="499"}')) >= 1);
  });

  it("an AbortController's signal aborts a non-streamed request", async () => {
    const controller = new AbortController();
    const pending = client.chat.completions.create({ model: MODEL, messages: question, max_tokens: 400 }, { signal: controller.signal });
    await until(async () => (await metric(chat.port, 'llama_napi_active_sequences')) === 1, 5000, 'the request to start');
    controller.abort();
    await assert.rejects(pending, OpenAI.APIUserAbortError);
    await until(async () => (await metric(chat.port, 'llama_napi_active_sequences')) === 0, 5000, 'active sequences back to 0');
    assert.equal(await metric(chat.port, 'llama_napi_queue_depth'), 0);
  });
});

describe('openai client: embeddings', () => {
  let embed: Started;
  before(async () => {
    embed = await start({
      model: await fixtureModel({ kind: 'llama', type: 'F32' }),
      modelName: MODEL,
      embeddings: true,
      parallel: 2,
      context: { contextSize: 512, threads: 2 },
    });
  });
  after(async () => {
    await embed?.server.close();
  });

  it('embeds strings as unit vectors, base64 (the client default) equal to float', async () => {
    const embedder = new OpenAI({ baseURL: `${embed.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const response = await embedder.embeddings.create({ model: MODEL, input: ['The quick brown fox', 'Quarterly tax rules'] });
    assert.equal(response.data.length, 2);
    assert.equal(response.usage.prompt_tokens > 0, true);
    for (const item of response.data) {
      assert.equal(item.embedding.length, 64);
      assert.ok(Math.abs(Math.hypot(...item.embedding) - 1) < 1e-4);
    }
    const floats = await embedder.embeddings.create({ model: MODEL, input: 'The quick brown fox', encoding_format: 'float' });
    assert.deepEqual(floats.data[0]!.embedding, response.data[0]!.embedding);
    // A server started for embeddings does not generate, and the other way round.
    await assert.rejects(embedder.chat.completions.create({ model: MODEL, messages: question }), (error: unknown) => (error as { status?: number }).status === 501);
    await assert.rejects(client.embeddings.create({ model: MODEL, input: 'x' }), (error: unknown) => (error as { status?: number }).status === 501);
  });
});
