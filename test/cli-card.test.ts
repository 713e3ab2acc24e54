/**
 * The Mixtral model card's two commands, end to end: `huggingface-cli download …` becomes
 * `llama-napi pull …` (against the mock hub, as printed otherwise), then the card's `./main …`
 * line becomes `llama-napi run …` on the pulled file. Also the card's `--include` form, and a
 * split model pulled as a set and run from a hub reference.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeCli, runCli, staleBuild } from './child/cli-spawn.js';
import { fixtureModel } from './fixtures/models.js';
import { splitModel } from './fixtures/split.js';
import { MockHub } from './mock-hub/server.js';

const REPO = 'TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF';
const FILE = 'mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf';

let dir: string;
let hub: MockHub;
let env: Record<string, string>;
let weights: Buffer;

before(async () => {
  const stale = staleBuild();
  if (stale) throw new Error(stale);
  dir = mkdtempSync(join(tmpdir(), 'llama-napi-card-'));
  // A Mixtral-shaped fixture with the card's trained context, under the card's file names.
  const source = await fixtureModel({ kind: 'moe', type: 'Q8_0', contextLength: 32768 });
  weights = readFileSync(source);
  const parts = await splitModel(source, dir, 2, 'model-Q8_0');
  hub = await MockHub.start([
    {
      id: REPO,
      files: [
        { path: FILE, content: weights },
        { path: 'mixtral-8x7b-instruct-v0.1.Q4_K_S.gguf', content: weights },
        { path: 'mixtral-8x7b-instruct-v0.1.Q8_0.gguf', content: weights },
      ],
    },
    { id: 'org/split-GGUF', files: parts.map((p) => ({ path: p.slice(dir.length + 1), content: readFileSync(p) })) },
  ]);
  env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: join(dir, 'cache'), HF_HOME: join(dir, 'home'), HF_TOKEN: '', HF_HUB_OFFLINE: '' };
});
after(async () => {
  await hub?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the model card's commands", () => {
  it('pull as huggingface-cli download prints it, then run as ./main prints it', async () => {
    const work = join(dir, 'work');
    mkdirSync(work);
    const pulled = await runCli(['pull', REPO, FILE, '--local-dir', '.', '--local-dir-use-symlinks', 'False'], { cwd: work, env, timeoutMs: 60_000 });
    assert.equal(pulled.code, 0, describeCli(pulled));
    const file = join(work, FILE);
    assert.equal(resolve(work, pulled.stdout.trim()), file);
    assert.ok(readFileSync(file).equals(weights), 'the pulled file is the served one');
    assert.ok(existsSync(join(work, '.cache', 'huggingface', 'download', `${FILE}.metadata`)), 'huggingface-cli metadata beside it');
    assert.equal(hub.leakedAuthorization.length, 0);

    const run = await runCli(['run', '-ngl', '35', '-m', FILE, '--color', '-c', '32768', '--temp', '0.7', '--repeat_penalty', '1.1', '-n', '16', '-p', '[INST] {prompt} [/INST]'], {
      cwd: work,
      env,
      timeoutMs: 120_000,
    });
    assert.equal(run.code, 0, describeCli(run));
    assert.ok(run.stdout.length > 0, 'generated text on stdout');
    assert.match(run.stderr, /gen 16 tokens/);
  });

  it("pulls every match of the card's --include into the shared cache", async () => {
    const o = await runCli(['pull', REPO, '--include', '*Q4_K*gguf'], { env, timeoutMs: 60_000 });
    assert.equal(o.code, 0, describeCli(o));
    const paths = o.stdout.trim().split('\n');
    assert.deepEqual(paths.map((p) => p.split('/').at(-1)).sort(), ['mixtral-8x7b-instruct-v0.1.Q4_K_M.gguf', 'mixtral-8x7b-instruct-v0.1.Q4_K_S.gguf']);
    for (const p of paths) assert.match(p, /models--TheBloke--Mixtral-8x7B-Instruct-v0\.1-GGUF\/snapshots\/[0-9a-f]{40}\//);
  });

  it('runs a split model from a hub reference: the set is pulled, the first part loaded', async () => {
    const seen = hub.requests.length;
    const o = await runCli(['run', '-m', 'hf:org/split-GGUF:Q8_0', '-n', '4', '--temp', '0', '-p', 'Hello'], { env, timeoutMs: 120_000 });
    assert.equal(o.code, 0, describeCli(o));
    assert.match(o.stderr, /model-Q8_0-00001-of-00002\.gguf/);
    assert.ok(existsSync(join(dir, 'cache', 'models--org--split-GGUF')));
    const downloads = hub.requests.slice(seen).filter((r) => r.server === 'storage' && r.method === 'GET' && r.status === 200);
    assert.equal(downloads.length, 2, 'both parts downloaded, once each');
  });
});
