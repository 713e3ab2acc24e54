// The server over raw HTTP (node:http): SSE framing, error shapes and statuses, limits, the API
// key, CORS, backpressure and shutdown, seen exactly as they go over the wire.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, request, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadModel, type Model } from '../lib/index.js';
import { createServer } from '../lib/server/index.js';
import { SseWriter } from '../lib/server/sse.js';
import { fixtureModel } from './fixtures/models.js';
import { json, metric, raw, sseEvents, start, until, type Started } from './child/server-helpers.js';

let model: Model;
let main: Started;
const CHAT = '/v1/chat/completions';
const hello = { messages: [{ role: 'user', content: 'Hello' }] };

before(async () => {
  // One loaded model shared by the servers of this file (each makes its own context); the
  // servers never dispose a model they were given.
  model = await loadModel(await fixtureModel({ kind: 'llama', type: 'F32' }));
  main = await start({ model, parallel: 2, context: { contextSize: 1024, threads: 2 } });
});

after(async () => {
  await main?.server.close();
  await model?.dispose();
});

const post = (port: number, path: string, body: unknown, headers?: Record<string, string>) =>
  raw(port, { method: 'POST', path, body, ...(headers ? { headers } : {}) });

function assertErrorShape(text: string, type = 'invalid_request_error'): { message: string; param: string | null; code: string | null } {
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.type, type);
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

/** A ServerResponse stand-in for SseWriter: records writes; `setFull(true)` makes write() report a full socket. */
function fakeResponse(): { res: ServerResponse; written: string[]; setFull: (value: boolean) => void } {
  const written: string[] = [];
  let full = false;
  const res = Object.assign(new EventEmitter(), {
    destroyed: false,
    writableEnded: false,
    writeHead: () => {},
    write: (data: string) => {
      written.push(data);
      return !full;
    },
    end: (data?: string) => {
      if (data) written.push(data);
    },
  }) as unknown as ServerResponse;
  return { res, written, setFull: (value) => (full = value) };
}

describe('server: SSE framing', () => {
  it('streams role, deltas, finish reason, usage and [DONE] as data-only events', async () => {
    const request = { ...hello, max_tokens: 6, temperature: 0 };
    const whole = json(await post(main.port, CHAT, request));
    const response = await post(main.port, CHAT, { ...request, stream: true, stream_options: { include_usage: true } });
    assert.equal(response.status, 200);
    assert.match(response.headers['content-type']!, /^text\/event-stream/);
    assert.equal(response.headers['cache-control'], 'no-cache');
    const events = sseEvents(response.text);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.equal(chunks.at(-1).usage.completion_tokens, 6);
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, null);
    const text = chunks.slice(1, -2).map((c) => c.choices[0].delta.content).join('');
    assert.equal(text, whole.choices[0].message.content);
  });

  it('streams completions as text_completion objects', async () => {
    const response = await post(main.port, '/v1/completions', { prompt: 'Hello', max_tokens: 3, temperature: 0, stream: true });
    const events = sseEvents(response.text);
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.ok(chunks.every((c) => c.object === 'text_completion'));
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
  });

  it('coalesces text while the socket is full and keeps the order (SseWriter)', () => {
    const { res, written, setFull } = fakeResponse();
    const writer = new SseWriter<object>(res, (text) => ({ t: text }));
    writer.text('a');
    setFull(true);
    writer.text('b'); // this write fills the socket
    writer.text('c');
    writer.text('d');
    assert.equal(written.length, 2);
    assert.equal(writer.pendingText, 2);
    setFull(false);
    res.emit('drain');
    writer.text('e');
    setFull(true);
    writer.text('f');
    writer.text('g');
    writer.event({ end: true });
    writer.done();
    assert.deepEqual(written, [
      'data: {"t":"a"}\n\n',
      'data: {"t":"b"}\n\n',
      'data: {"t":"cd"}\n\n',
      'data: {"t":"e"}\n\n',
      'data: {"t":"f"}\n\n',
      'data: {"t":"g"}\n\n',
      'data: {"end":true}\n\n',
      'data: [DONE]\n\n',
    ]);
  });

  it('coalesces log-probabilities with their text, and sends those of held-back text with what follows', () => {
    const { res, written, setFull } = fakeResponse();
    const lp = (token: number) => ({ token, logprob: -token, topLogprobs: [] });
    const writer = new SseWriter<object>(res, (text, logprobs) => ({ t: text, l: logprobs?.map((e) => e.token) ?? null }));
    writer.text('', [lp(1)]); // a token whose text is held back (an incomplete character)
    writer.text('ab', [lp(2)]);
    setFull(true);
    writer.text('c', [lp(3)]); // fills the socket
    writer.text('d', [lp(4)]);
    writer.text('e', [lp(5)]);
    setFull(false);
    res.emit('drain');
    writer.text('', [lp(6)]);
    writer.event({ end: true });
    assert.deepEqual(
      written.map((line) => JSON.parse(line.slice('data: '.length))),
      [
        { t: 'ab', l: [1, 2] },
        { t: 'c', l: [3] },
        { t: 'de', l: [4, 5] },
        { t: '', l: [6] },
        { end: true },
      ],
    );
  });

  it('a client that stops reading does not stall the others', async () => {
    const body = JSON.stringify({ ...hello, max_tokens: 200, stream: true, temperature: 0 });
    const socket = connect(main.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.pause(); // never read: the server's writes back up
    socket.write(`POST ${CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await until(async () => (await metric(main.port, 'llama_napi_active_sequences')) === 1, 5000, 'the slow request to start');
    const other = await post(main.port, CHAT, { ...hello, max_tokens: 4, temperature: 0 });
    assert.equal(other.status, 200);
    // The paused client's generation runs to its end without anyone reading it.
    await until(async () => (await metric(main.port, 'llama_napi_active_sequences')) === 0, 120_000, 'the slow generation to finish'); // generous: slow under the sanitizers
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.resume();
    await until(() => Buffer.concat(received).includes('data: [DONE]\n\n'), 5000, 'the slow client to read everything');
    socket.destroy();
    const text = Buffer.concat(received).toString('utf8');
    assert.match(text, /^HTTP\/1\.1 200/);
  });
});

describe('server: errors', () => {
  it('answers malformed JSON, wrong types and bad values with 400 in OpenAI shape', async () => {
    const cases: Array<[unknown, string | null]> = [
      ['{"messages": [', null],
      ['', null],
      [[1, 2], 'body'],
      [{ messages: 'hi' }, 'messages'],
      [{ messages: [] }, 'messages'],
      [{ messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'messages[0].content[0]'],
      [{ ...hello, max_tokens: 0 }, 'max_tokens'],
      [{ ...hello, max_tokens: 1.5 }, 'max_tokens'],
      [{ ...hello, temperature: 'hot' }, 'temperature'],
      [{ ...hello, top_p: 2 }, 'top_p'],
      [{ ...hello, stop: 7 }, 'stop'],
      [{ ...hello, seed: -1 }, 'seed'],
      [{ ...hello, stream: 'yes' }, 'stream'],
      [{ ...hello, logit_bias: { abc: 1 } }, 'logit_bias.abc'],
      [{ ...hello, logit_bias: { '5': 500 } }, 'logit_bias.5'],
      [{ ...hello, logit_bias: { '99999999': 1 } }, 'logit_bias.99999999'],
      [{ ...hello, response_format: { type: 'xml' } }, 'response_format.type'],
      [{ ...hello, presence_penalty: 3 }, 'presence_penalty'],
      [{ ...hello, n: 3 }, 'n'],
      [{ ...hello, top_logprobs: 2 }, 'top_logprobs'],
    ];
    for (const [body, param] of cases) {
      const response = await post(main.port, CHAT, body);
      assert.equal(response.status, 400, `${JSON.stringify(body)} → ${response.text}`);
      const error = assertErrorShape(response.text);
      assert.equal(error.param, param, JSON.stringify(body));
    }
    const badPrompt = await post(main.port, '/v1/completions', { prompt: [1, 'x'] });
    assert.equal(assertErrorShape(badPrompt.text).param, 'prompt[1]');
  });

  it('ignores unknown fields and accepts text parts, developer messages and nulls', async () => {
    const response = await post(main.port, CHAT, {
      model: 'anything',
      messages: [
        { role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Hello' }], name: 'ann' },
      ],
      max_tokens: 2,
      temperature: null,
      user: 'u-1',
      some_future_field: { nested: true },
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { '13': 5 },
      seed: 7,
    });
    assert.equal(response.status, 200, response.text);
    assert.equal(json(response).usage.completion_tokens, 2);
  });

  it('refuses tools, accepts cache_prompt, and uses a body a framework already parsed', async () => {
    const tools = await post(main.port, CHAT, { ...hello, tools: [{ type: 'function', function: { name: 'f' } }] });
    assert.equal(tools.status, 400);
    assert.equal(assertErrorShape(tools.text).code, 'unsupported_parameter');
    const request = { ...hello, max_tokens: 2, temperature: 0 };
    await post(main.port, CHAT, request);
    const warm = json(await post(main.port, CHAT, request));
    assert.ok(warm.usage.prompt_tokens_details.cached_tokens > 0);
    const cold = json(await post(main.port, CHAT, { ...request, cache_prompt: false }));
    assert.equal(cold.usage.prompt_tokens_details.cached_tokens, 0);
    assert.equal(cold.choices[0].message.content, warm.choices[0].message.content);

    // As Express's express.json() leaves it: the stream consumed, the object in req.body.
    const http = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        (req as typeof req & { body?: unknown }).body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        main.server(req, res);
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const port = (http.address() as { port: number }).port;
      const parsed = json(await post(port, CHAT, request));
      assert.equal(parsed.choices[0].message.content, warm.choices[0].message.content);
    } finally {
      http.close();
    }
  });

  it('formats with the chatTemplate option', async () => {
    const chatml = await start({ model, chatTemplate: 'chatml', context: { contextSize: 256, threads: 2 } });
    try {
      const request = { ...hello, max_tokens: 1, temperature: 0 };
      const own = json(await post(main.port, CHAT, request)).usage.prompt_tokens;
      const expected = model.applyChatTemplate(hello.messages, { template: 'chatml', tokenize: true }).length;
      assert.equal(json(await post(chatml.port, CHAT, request)).usage.prompt_tokens, expected);
      assert.notEqual(own, expected);
    } finally {
      await chatml.server.close();
    }
  });

  it('maps a grammar llama.cpp rejects to 400 with its reason', async () => {
    const response = await post(main.port, CHAT, { ...hello, grammar: 'root ::= undefined-rule', max_tokens: 2 });
    assert.equal(response.status, 400);
    assert.match(assertErrorShape(response.text).message, /undefined-rule|not defined/);
  });

  it('404 for unknown routes, 405 with Allow for the wrong method', async () => {
    const missing = await raw(main.port, { path: '/v1/nothing' });
    assert.equal(missing.status, 404);
    assertErrorShape(missing.text, 'not_found_error');
    const wrong = await raw(main.port, { path: CHAT });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers['allow'], 'POST');
    assertErrorShape(wrong.text);
    assert.equal((await raw(main.port, { path: '/v1/models/unknown-model' })).status, 404);
  });

  it('413 for a body over the limit, by Content-Length or while reading', async () => {
    const small = await start({ model, maxBodyBytes: 1000, context: { contextSize: 256, threads: 2 } });
    try {
      const big = { ...hello, padding: 'x'.repeat(2000) };
      const declared = await post(small.port, CHAT, big);
      assert.equal(declared.status, 413);
      assertErrorShape(declared.text);
      const chunked = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: small.port, method: 'POST', path: CHAT, agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.write(JSON.stringify(big).slice(0, 600));
        req.write(JSON.stringify(big).slice(600));
        req.end();
      });
      assert.equal(chunked, 413);
      assert.equal((await post(small.port, CHAT, { ...hello, max_tokens: 1 })).status, 200);
    } finally {
      await small.server.close();
    }
  });

  it('tokenize and detokenize like llama-server', async () => {
    const { tokens } = json(await post(main.port, '/tokenize', { content: 'Hello world' }));
    assert.deepEqual(tokens, model.tokenize('Hello world', { addSpecial: false }));
    assert.deepEqual(json(await post(main.port, '/tokenize', { content: 'Hi', add_special: true })).tokens[0], model.info.bosToken);
    assert.equal(json(await post(main.port, '/detokenize', { tokens })).content, 'Hello world');
    assert.equal((await post(main.port, '/detokenize', { tokens: [-1] })).status, 400);
    assert.equal((await post(main.port, '/tokenize', { content: 5 })).status, 400);
  });

  it('tokenizes long texts (off the event loop) to the same tokens', async () => {
    const long = 'The llama sat on the mat, 日本語 and 🦙 too. '.repeat(150); // over OFF_LOOP_CHARS
    assert.deepEqual(json(await post(main.port, '/tokenize', { content: long })).tokens, model.tokenize(long, { addSpecial: false }));
    // Too long for a sequence: the 400 names the count, which must be the synchronous one.
    const chat = assertErrorShape((await post(main.port, CHAT, { messages: [{ role: 'user', content: long }] })).text);
    assert.match(chat.message, new RegExp(`has ${model.applyChatTemplate([{ role: 'user', content: long }], { tokenize: true }).length} tokens`));
    const completion = assertErrorShape((await post(main.port, '/v1/completions', { prompt: long })).text);
    assert.match(completion.message, new RegExp(`has ${model.tokenize(long).length} tokens`));
  });

  it('reports health and Prometheus metrics', async () => {
    const health = await raw(main.port, { path: '/health' });
    assert.deepEqual([health.status, json(health)], [200, { status: 'ok' }]);
    const metrics = await raw(main.port, { path: '/metrics' });
    assert.match(metrics.headers['content-type']!, /^text\/plain; version=0\.0\.4/);
    for (const name of ['requests_total', 'prompt_tokens_total', 'generated_tokens_total', 'queue_depth', 'active_sequences', 'time_to_first_token_seconds', 'time_per_output_token_seconds']) {
      assert.match(metrics.text, new RegExp(`^# TYPE llama_napi_${name} `, 'm'));
    }
    assert.match(metrics.text, /^llama_napi_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} \d+$/m);
    assert.match(metrics.text, /^llama_napi_time_to_first_token_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
  });

  it('answers 500 (health) and refuses to listen when the model fails to load', async () => {
    const broken = createServer({ model: '/nonexistent/model.gguf' });
    await assert.rejects(broken.listen(0), (error: unknown) => (error as { code?: string }).code === 'ERR_FILE_NOT_FOUND' || (error as { code?: string }).code === 'ERR_MODEL_LOAD');
    const http = createHttpServer(broken);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const port = (http.address() as { port: number }).port;
      const health = await raw(port, { path: '/health' });
      assert.equal(health.status, 500);
      assert.match(assertErrorShape(health.text, 'server_error').message, /failed to load/);
    } finally {
      http.close();
      await broken.close();
    }
  });
});

describe('server: admission and access', () => {
  it('refuses requests beyond the queue with 503 and Retry-After, and frees everything after', async () => {
    const busy = await start({ model, parallel: 1, maxQueue: 1, context: { contextSize: 512, threads: 2 } });
    const long = JSON.stringify({ ...hello, max_tokens: 400, stream: true });
    const open = (): Promise<import('node:http').ClientRequest> =>
      new Promise((resolve) => {
        const req = request({ host: '127.0.0.1', port: busy.port, method: 'POST', path: CHAT, agent: false, headers: { 'content-type': 'application/json' } });
        req.on('error', () => {});
        req.on('response', (res) => res.resume());
        req.end(long);
        resolve(req);
      });
    try {
      const running = await open();
      await until(async () => (await metric(busy.port, 'llama_napi_active_sequences')) === 1, 5000, 'the first request to run');
      const waiting = await open();
      await until(async () => (await metric(busy.port, 'llama_napi_queue_depth')) === 1, 5000, 'the second request to queue');
      const refused = await post(busy.port, CHAT, { ...hello, max_tokens: 1 });
      assert.equal(refused.status, 503);
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(assertErrorShape(refused.text, 'unavailable_error').code, 'queue_full');
      waiting.destroy(); // leaves the queue
      await until(async () => (await metric(busy.port, 'llama_napi_queue_depth')) === 0, 5000, 'the queue to empty');
      running.destroy(); // aborts its generation
      await until(async () => (await metric(busy.port, 'llama_napi_active_sequences')) === 0, 5000, 'the sequence to be freed');
      assert.equal((await post(busy.port, CHAT, { ...hello, max_tokens: 1 })).status, 200);
    } finally {
      await busy.server.close();
    }
  });

  it('requires the API key when one is set (Bearer, 401 otherwise; /health stays open)', async () => {
    const locked = await start({ model, apiKey: 'sk-secret', context: { contextSize: 256, threads: 2 } });
    try {
      const none = await raw(locked.port, { path: '/v1/models' });
      assert.equal(none.status, 401);
      assert.equal(assertErrorShape(none.text, 'authentication_error').code, 'invalid_api_key');
      assert.equal(none.headers['www-authenticate'], 'Bearer');
      assert.equal((await raw(locked.port, { path: '/v1/models', headers: { authorization: 'Bearer sk-wrong' } })).status, 401);
      assert.equal((await raw(locked.port, { path: '/v1/models', headers: { authorization: 'sk-secret' } })).status, 401);
      assert.equal((await raw(locked.port, { path: '/v1/models', headers: { authorization: 'Bearer sk-secret' } })).status, 200);
      assert.equal((await raw(locked.port, { path: '/metrics' })).status, 401);
      assert.equal((await raw(locked.port, { path: '/health' })).status, 200);
    } finally {
      await locked.server.close();
    }
  });

  it('sends CORS headers only when enabled, for the allowed origins', async () => {
    const origin = { origin: 'https://app.example' };
    const plain = await raw(main.port, { path: '/v1/models', headers: origin });
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
    assert.equal((await raw(main.port, { method: 'OPTIONS', path: CHAT, headers: { ...origin, 'access-control-request-method': 'POST' } })).status, 405);

    const open = await start({ model, cors: true, context: { contextSize: 256, threads: 2 } });
    const listed = await start({ model, cors: ['https://app.example'], context: { contextSize: 256, threads: 2 } });
    try {
      assert.equal((await raw(open.port, { path: '/v1/models', headers: origin })).headers['access-control-allow-origin'], '*');
      const preflight = await raw(open.port, {
        method: 'OPTIONS',
        path: CHAT,
        headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers['access-control-allow-methods']!, /POST/);
      assert.equal(preflight.headers['access-control-allow-headers'], 'authorization, content-type');
      assert.equal((await raw(listed.port, { path: '/v1/models', headers: origin })).headers['access-control-allow-origin'], 'https://app.example');
      assert.equal((await raw(listed.port, { path: '/v1/models', headers: { origin: 'https://evil.example' } })).headers['access-control-allow-origin'], undefined);
    } finally {
      await open.server.close();
      await listed.server.close();
    }
  });
});

describe('server: shutdown', () => {
  it('can be closed while the model is still loading', async () => {
    const early = createServer({ model: await fixtureModel({ kind: 'llama', type: 'F32' }), context: { contextSize: 256, threads: 2 } });
    assert.equal(early.state, 'loading');
    await early.close();
    assert.equal(early.state, 'closed');
    await assert.rejects(early.ready);
    await assert.rejects(early.listen(0), /closed/);
  });

  it('lets running generations finish, refuses new ones, then closes', async () => {
    const closing = await start({ model, context: { contextSize: 512, threads: 2 } });
    const streaming = post(closing.port, CHAT, { ...hello, max_tokens: 24, temperature: 0, stream: true });
    await until(async () => (await metric(closing.port, 'llama_napi_active_sequences')) === 1, 5000, 'the stream to start');
    const closed = closing.server.close({ timeoutMs: 30_000 });
    const late = await post(closing.port, CHAT, { ...hello, max_tokens: 1 }).catch((error: Error) => error);
    // Either the listener is already gone (connection refused) or the request is refused with 503.
    if (!(late instanceof Error)) assert.equal(late.status, 503);
    const response = await streaming;
    assert.equal(sseEvents(response.text).at(-1), '[DONE]');
    await closed;
    assert.equal(closing.server.state, 'closed');
    assert.equal(model.disposed, false); // a model the caller passed stays the caller's
  });

  it('aborts what is still running at the deadline with a 503 error event', async () => {
    const closing = await start({ model, context: { contextSize: 512, threads: 2 } });
    let received = '';
    const streaming = new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: closing.port, method: 'POST', path: CHAT, agent: false, headers: { 'content-type': 'application/json' } });
      req.on('error', reject);
      req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (received += chunk));
        res.on('end', () => resolve(received));
      });
      req.end(JSON.stringify({ ...hello, max_tokens: 400, stream: true }));
    });
    await until(() => received.length > 0, 5000, 'the stream to start');
    const whole = post(closing.port, CHAT, { ...hello, max_tokens: 400 });
    await until(async () => (await metric(closing.port, 'llama_napi_queue_depth')) === 1, 5000, 'the second request to queue');
    await closing.server.close({ timeoutMs: 100 });
    const events = sseEvents(await streaming);
    const last = JSON.parse(events.at(-1)!);
    assert.equal(last.error.type, 'unavailable_error');
    assert.equal(last.error.code, 'shutting_down');
    const refused = await whole; // was waiting for the sequence: refused when shutdown began
    assert.equal(refused.status, 503);
    assertErrorShape(refused.text, 'unavailable_error');
  });
});
