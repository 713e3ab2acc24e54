/**
 * `llama-napi serve` as a user runs it: a child process with llama-server's flags, answering the
 * official `openai` client on loopback, refusing a bad flag before loading anything, and
 * shutting down with exit 0 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { BIN, REPO_ROOT, describeCli, runCli, staleBuild } from './child/cli-spawn.js';
import { fixtureModel } from './fixtures/models.js';

let model: string;

before(async () => {
  const stale = staleBuild();
  if (stale) throw new Error(stale);
  model = await fixtureModel({ kind: 'moe', type: 'Q8_0' });
});

describe('llama-napi serve', () => {
  let child: ReturnType<typeof spawn> | undefined;
  let stderr = '';
  after(() => child?.kill('SIGKILL'));

  it('serves chat completions to the openai client, then exits 0 on SIGTERM', async () => {
    child = spawn(process.execPath, [BIN, 'serve', '-m', model, '--port', '0', '-c', '512', '-np', '2', '--alias', 'fixture'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line within 60 s:\n${stderr}`)), 60_000);
      child!.stderr!.on('data', (d: string) => {
        stderr += d;
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child!.on('exit', (code) => reject(new Error(`serve exited (${code}) before listening:\n${stderr}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'binds loopback by default');

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused' });
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['fixture']);
    const completion = await client.chat.completions.create({
      model: 'fixture',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 4,
      temperature: 0,
    });
    const { finish_reason: finish } = completion.choices[0]!;
    const generated = completion.usage!.completion_tokens;
    assert.ok(finish === 'length' ? generated === 4 : finish === 'stop' && generated <= 4, `${finish} after ${generated} tokens`);

    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  });

  it('refuses a bad flag value before loading the model', async () => {
    const o = await runCli(['serve', '-m', model, '--parallel', '0']);
    assert.equal(o.code, 2, describeCli(o));
    assert.match(o.stderr, /--parallel expects an integer in \[1, 256\], got "0"/);
    assert.doesNotMatch(o.stderr, /loaded/);
    const burst = await runCli(['serve', '-m', model, '--burst-window', '1001']);
    assert.equal(burst.code, 2, describeCli(burst));
    assert.match(burst.stderr, /--burst-window expects an integer in \[0, 1000\], got "1001"/);
  });

  it('prints its flags with --help', async () => {
    const o = await runCli(['serve', '--help']);
    assert.equal(o.code, 0, describeCli(o));
    for (const flag of ['--host', '--port', '--parallel', '--max-queue', '--burst-window', '--api-key', '--cors', '--embedding', '-ngl', '-c']) {
      assert.ok(o.stdout.includes(flag), `${flag} in help`);
    }
  });
});
