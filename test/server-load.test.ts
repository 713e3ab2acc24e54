// Load: 64 concurrent streaming clients on 4 sequences, a fifth of them hanging up at random
// (seeded) moments. Every client that stays must get exactly the text its request gets alone
// (greedy, F32: batched and single decoding round alike), nothing lost or mixed between
// streams, and the server must end with no active sequence and an empty queue.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, it } from 'node:test';
import { fixtureModel } from './fixtures/models.js';
import { json, metric, raw, sseEvents, start, until, type Started } from './child/server-helpers.js';

const CLIENTS = 64;
const PROMPTS = [
  'The quick brown fox', 'Once upon a time', 'Hello', 'Numbers: 1 2 3', 'Zebra', 'A river runs through it',
  'Name a planet', 'Tell me about the sea', 'Why is the sky blue?', 'Write a haiku', 'Rust or Go?', 'Count to ten',
  'What is an expert?', 'Mixture of experts', 'Green', 'The end',
];

/** mulberry32: a small seeded PRNG, so the disconnect pattern is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let s: Started;
before(async () => {
  s = await start({ model: await fixtureModel({ kind: 'llama', type: 'F32' }), parallel: 4, maxQueue: CLIENTS, context: { contextSize: 1024, threads: 2 } });
});
after(async () => {
  await s?.server.close();
});

const body = (i: number) => ({ messages: [{ role: 'user', content: PROMPTS[i % PROMPTS.length] }], max_tokens: 4 + (i % 7), temperature: 0 });

interface Outcome {
  index: number;
  hungUp: boolean;
  text: string;
}

/** One streaming client; `hangUpAfter` chunks (or never) it destroys the connection. */
function client(index: number, hangUpAfter: number | null): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/v1/chat/completions', agent: false, headers: { 'content-type': 'application/json' } });
    let received = '';
    let events = 0;
    req.on('error', (error) => (hangUpAfter === null ? reject(error) : resolve({ index, hungUp: true, text: '' })));
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        received += chunk;
        events += chunk.split('\n\n').length - 1;
        if (hangUpAfter !== null && events >= hangUpAfter) {
          req.destroy();
          resolve({ index, hungUp: true, text: '' });
        }
      });
      res.on('end', () => {
        if (hangUpAfter !== null) return resolve({ index, hungUp: true, text: '' });
        const chunks = sseEvents(received);
        assert.equal(chunks.at(-1), '[DONE]', `client ${index}`);
        const parsed = chunks.slice(0, -1).map((c) => JSON.parse(c));
        assert.equal(new Set(parsed.map((c) => c.id)).size, 1, `client ${index}: one completion id per stream`);
        assert.equal(parsed.at(-1).choices[0].finish_reason !== null, true);
        resolve({ index, hungUp: false, text: parsed.map((c) => c.choices[0].delta.content ?? '').join('') });
      });
    });
    req.end(JSON.stringify({ ...body(index), stream: true }));
  });
}

it('serves 64 concurrent streams on 4 sequences, a fifth hanging up, each exactly as alone', { timeout: 120_000 }, async () => {
  // Each distinct request alone first (one at a time, so nothing is batched with it).
  const expected: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    expected.push(json(await raw(s.port, { method: 'POST', path: '/v1/chat/completions', body: body(i) })).choices[0].message.content);
  }
  const random = seeded(2026);
  const hangUps = new Set<number>();
  while (hangUps.size < Math.round(CLIENTS / 5)) hangUps.add(Math.floor(random() * CLIENTS));
  const started = Date.now();
  const outcomes = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) => client(i, hangUps.has(i) ? Math.floor(random() * 5) + 1 : null)),
  );
  const seconds = (Date.now() - started) / 1000;
  for (const outcome of outcomes.filter((o) => !o.hungUp)) {
    assert.equal(outcome.text, expected[outcome.index], `client ${outcome.index}`);
  }
  assert.equal(outcomes.filter((o) => !o.hungUp).length, CLIENTS - hangUps.size);
  await until(async () => (await metric(s.port, 'llama_napi_active_sequences')) === 0, 10_000, 'active sequences back to 0');
  assert.equal(await metric(s.port, 'llama_napi_queue_depth'), 0);
  const served = await metric(s.port, 'llama_napi_requests_total{endpoint="/v1/chat/completions",status="200"}');
  // The solo runs and every client that stayed were answered; a client that hung up counts as
  // 499 unless its stream had already ended.
  assert.ok(served >= CLIENTS + CLIENTS - hangUps.size, `${served} answered`);
  const gone = await metric(s.port, 'llama_napi_requests_total{endpoint="/v1/chat/completions",status="499"}').catch(() => 0);
  assert.ok(gone <= hangUps.size && served + gone === CLIENTS * 2, `${served} answered, ${gone} gone`);
  const generated = await metric(s.port, 'llama_napi_generated_tokens_total');
  console.log(`# ${CLIENTS} clients, ${hangUps.size} hung up, ${seconds.toFixed(1)} s, ${generated} tokens generated in all; e.g. ${JSON.stringify(expected[5])}`);
});
