// runServer (what `llama-napi serve` calls) in a child process: the one "listening" line on
// stderr, the API key from LLAMA_NAPI_API_KEY, and SIGTERM letting a running stream finish
// before the process exits 0 by itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixtureModel } from './fixtures/models.js';
import { raw, sseEvents } from './child/server-helpers.js';

it('runServer serves until SIGTERM, finishes running streams, and exits 0', { timeout: 60_000 }, async () => {
  const modelPath = await fixtureModel({ kind: 'llama', type: 'F32' });
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('child/server-run.ts', import.meta.url)), modelPath], {
    env: { ...process.env, LLAMA_NAPI_API_KEY: 'sk-run' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (data: string) => (stdout += data));
  child.stderr.setEncoding('utf8').on('data', (data: string) => (stderr += data));
  const exited = new Promise<[number | null, string | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const check = (): void => {
        const match = /PORT (\d+)/.exec(stdout);
        if (match) resolve(Number(match[1]));
      };
      child.stdout.on('data', check);
      void exited.then(() => reject(new Error(`child exited early:\n${stderr}`)));
    });
    assert.match(stderr, /^llama-napi: listening on http:\/\/127\.0\.0\.1:\d+/);
    assert.equal((await raw(port, { path: '/v1/models' })).status, 401);

    // A stream is running when SIGTERM arrives: it must still end with [DONE].
    const text = await new Promise<string>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/chat/completions',
        agent: false,
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-run' },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        let body = '';
        let signalled = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          if (!signalled) {
            signalled = true;
            child.kill('SIGTERM');
          }
        });
        res.on('end', () => resolve(body));
      });
      req.end(JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 40, stream: true, temperature: 0 }));
    });
    const events = sseEvents(text);
    assert.equal(events.at(-1), '[DONE]');
    assert.equal(JSON.parse(events.at(-2)!).choices[0].finish_reason, 'length');
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [0, null], stderr);
    assert.match(stdout, /CLOSED/);
  } finally {
    child.kill('SIGKILL');
  }
});
