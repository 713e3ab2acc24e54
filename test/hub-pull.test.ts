// pullModel() and resolveModel() against the mock hub (test/mock-hub/): every reference form,
// the Hugging Face cache layout byte for byte, a cache written by Python's huggingface_hub,
// localDir and its metadata, offline mode, gated repositories and the errors users act on.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pullModel, resolveModel } from '../lib/hub/index.js';
import { gitBlobSha1 } from './mock-hub/server.js';
import { contentOf, hubFixture, sha256, standardRepo, type HubFixture } from './mock-hub/setup.js';

const REPO = 'org/model-GGUF';
const repo = standardRepo(REPO);
const repoDir = (f: HubFixture) => join(f.cache, 'models--org--model-GGUF');

let f: HubFixture;
beforeEach(async () => {
  f = await hubFixture([repo]);
});
afterEach(async () => {
  assert.deepEqual(f.hub.leakedAuthorization, [], 'the storage host never receives a token');
  await f.close();
});

function assertContent(path: string, file: string): void {
  assert.ok(readFileSync(path).equals(contentOf(repo, file)), `${path} holds ${file}`);
}

describe('pullModel: reference forms', () => {
  it('org/repo with include naming one file (the model card form)', async () => {
    const [path, ...rest] = await f.pull(REPO, { include: 'model.Q4_K_M.gguf' });
    assert.equal(rest.length, 0);
    assertContent(path!, 'model.Q4_K_M.gguf');
    assert.equal(f.hub.count((r) => r.path.startsWith('/api/')), 0, 'a named file needs no listing');
    assert.ok(f.hub.requests.every((r) => /^llama-napi \(node\/\d/.test(r.userAgent ?? '')), 'every request names llama-napi');
  });

  it('org/repo/path/file.gguf and hf:org/repo/path/file.gguf', async () => {
    assertContent((await f.pull(`${REPO}/sub/dir/model.F16.gguf`))[0]!, 'sub/dir/model.F16.gguf');
    assertContent((await f.pull(`hf:${REPO}/model.Q8_0.gguf`))[0]!, 'model.Q8_0.gguf');
  });

  it('hf:org/repo:Q4_K_M and org/repo:q8_0 (case-insensitive quantisation)', async () => {
    assertContent((await f.pull(`hf:${REPO}:Q4_K_M`))[0]!, 'model.Q4_K_M.gguf');
    assertContent((await f.pull(`${REPO}:q8_0`))[0]!, 'model.Q8_0.gguf');
  });

  it('a glob and an array in include, like huggingface-cli --include', async () => {
    const paths = await f.pull(REPO, { include: '*Q*gguf' });
    assert.equal(paths.length, 5);
    assertContent(paths[0]!, 'model.Q4_K_M.gguf');
    assertContent(paths[1]!, 'model.Q8_0.gguf');
    const two = await f.pull(REPO, { include: ['README.md', 'model.Q8_0.gguf'] });
    assertContent(two[0]!, 'README.md');
    assertContent(two[1]!, 'model.Q8_0.gguf');
  });

  it('a split GGUF comes down as a set, in order, for a quant or its first part', async () => {
    const parts = ['split/model-Q6_K-00001-of-00003.gguf', 'split/model-Q6_K-00002-of-00003.gguf', 'split/model-Q6_K-00003-of-00003.gguf'];
    const byQuant = await f.pull(`${REPO}:Q6_K`);
    assert.deepEqual(byQuant.map((p) => p.slice(p.indexOf('split/'))), parts);
    byQuant.forEach((path, i) => assertContent(path, parts[i]!));
    assert.deepEqual(await f.pull(`${REPO}/${parts[0]}`), byQuant);
    assert.equal((await f.pull(`${REPO}/${parts[1]}`)).length, 1, 'a later part alone is just that part');
  });

  it('refuses bad arguments with ERR_INVALID_ARG naming the option', async () => {
    const cases: [unknown, unknown, RegExp][] = [
      [42, undefined, /Invalid argument "ref": expected a non-empty string, got 42/],
      ['nope', undefined, /Invalid argument "ref": expected a model reference/],
      [REPO, { revison: 'main' }, /Invalid option "revison": not a known pullModel options key/],
      [REPO, { revision: '../x' }, /Invalid option "revision": expected a branch, tag or commit hash/],
      [REPO, { include: [] }, /Invalid option "include": expected a file name or glob, or an array of them/],
      [REPO, { include: [3] }, /Invalid option "include\[0\]"/],
      [REPO, { include: '../../etc/passwd' }, /Invalid option "include\[0\]": expected a relative file name or glob inside the repository/],
      [REPO, { include: ['ok.gguf', '/abs.gguf'] }, /Invalid option "include\[1\]"/],
      [REPO, { token: '' }, /Invalid option "token": expected a non-empty string or false/],
      [REPO, { connections: 0 }, /Invalid option "connections": expected an integer in \[1, 64\], got 0/],
      [REPO, { retries: 1.5 }, /Invalid option "retries"/],
      [REPO, { endpoint: 'ftp://x' }, /Invalid option "endpoint": expected an http: or https: URL/],
      [REPO, { onProgress: 'yes' }, /Invalid option "onProgress": expected a function/],
      [REPO, { signal: {} }, /Invalid option "signal": expected an AbortSignal/],
      [`${REPO}:Q8_0`, { include: 'x.gguf' }, /Invalid option "include": the reference .* already names Q8_0/],
    ];
    for (const [ref, options, message] of cases) {
      await assert.rejects(pullModel(ref as string, options as never), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'ERR_INVALID_ARG');
        assert.match(error.message, message);
        return true;
      });
    }
    await assert.rejects(resolveModel(REPO, { token: 'x' } as never), /Invalid option "token": not a known resolveModel options key/);
  });
});

describe('the Hugging Face cache layout', () => {
  it('blobs named by sha256 (LFS) or git blob id, relative snapshot links, refs/main', async () => {
    const commit = f.hub.commitOf(REPO);
    const [gguf] = await f.pull(`${REPO}/model.Q4_K_M.gguf`);
    const [nested] = await f.pull(`${REPO}/sub/dir/model.F16.gguf`);
    const [readme] = await f.pull(`${REPO}/README.md`);
    const [empty] = await f.pull(`${REPO}/empty.txt`);
    assert.equal(readFileSync(empty!).length, 0);
    assert.equal(readlinkSync(empty!), `../../blobs/${gitBlobSha1(Buffer.alloc(0))}`);
    const root = repoDir(f);
    assert.equal(gguf, join(root, 'snapshots', commit, 'model.Q4_K_M.gguf'));
    assert.equal(readFileSync(join(root, 'refs', 'main'), 'utf8'), commit, 'the commit hash alone, no newline');

    const lfsEtag = sha256(contentOf(repo, 'model.Q4_K_M.gguf'));
    assert.equal(readlinkSync(gguf!), `../../blobs/${lfsEtag}`);
    assert.equal(readlinkSync(nested!), `../../../../blobs/${sha256(contentOf(repo, 'sub/dir/model.F16.gguf'))}`, 'one ../ per folder');
    const gitEtag = gitBlobSha1(contentOf(repo, 'README.md'));
    assert.equal(readlinkSync(readme!), `../../blobs/${gitEtag}`, 'a small (non-LFS) file is named by its git blob id');
    assert.ok(readFileSync(join(root, 'blobs', lfsEtag)).equals(contentOf(repo, 'model.Q4_K_M.gguf')));
    assert.ok(lstatSync(join(root, 'blobs', lfsEtag)).isFile());
    assert.deepEqual(readdirSync(join(root, 'blobs')).filter((name) => name.endsWith('.incomplete')), []);
  });

  it('finds a cache written by huggingface_hub without any request', async () => {
    // Written by hand the way huggingface_hub writes it.
    const commit = 'a'.repeat(40);
    const content = contentOf(repo, 'model.Q8_0.gguf');
    const etag = sha256(content);
    const root = repoDir(f);
    mkdirSync(join(root, 'blobs'), { recursive: true });
    mkdirSync(join(root, 'refs'), { recursive: true });
    mkdirSync(join(root, 'snapshots', commit), { recursive: true });
    writeFileSync(join(root, 'blobs', etag), content);
    writeFileSync(join(root, 'refs', 'main'), commit);
    symlinkSync(`../../blobs/${etag}`, join(root, 'snapshots', commit, 'model.Q8_0.gguf'));
    const expected = [join(root, 'snapshots', commit, 'model.Q8_0.gguf')];

    assert.deepEqual(await resolveModel(`${REPO}:Q8_0`), expected);
    assert.deepEqual(await resolveModel(`hf:${REPO}/model.Q8_0.gguf`), expected);
    assert.deepEqual(await resolveModel(REPO, { include: '*Q8*' }), expected);
    assert.deepEqual(await f.pull(`${REPO}/model.Q8_0.gguf`, { revision: commit }), expected, 'a commit hash needs no lookup');
    assert.deepEqual(await f.pull(`${REPO}:Q8_0`, { revision: commit }), expected);
    process.env['HF_HUB_OFFLINE'] = '1';
    assert.deepEqual(await f.pull(`${REPO}:Q8_0`), expected);
    assert.equal(f.hub.requests.length, 0);
  });

  it('resolveModel: ERR_NOT_FOUND for what is not cached, never a request', async () => {
    await assert.rejects(resolveModel(`${REPO}:Q4_K_M`), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_NOT_FOUND');
      assert.match(error.message, /org\/model-GGUF at revision main is not in the cache .*resolveModel\(\) only looks at local files/);
      return true;
    });
    await f.pull(`${REPO}:Q4_K_M`);
    await assert.rejects(resolveModel(`${REPO}:Q8_0`), /no GGUF file of quantisation Q8_0\. Available quantisations: Q4_K_M .*resolveModel\(\) only looks at local files/);
    f.hub.clearLog();
    assert.equal((await resolveModel(`${REPO}:q4_k_m`)).length, 1);
    assert.equal(f.hub.requests.length, 0);
  });
});

describe('offline mode (HF_HUB_OFFLINE=1)', () => {
  it('answers from the cache and names what is missing, without a request', async () => {
    process.env['HF_HUB_OFFLINE'] = '1';
    await assert.rejects(f.pull(`${REPO}:Q4_K_M`), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_NOT_FOUND');
      assert.match(error.message, /not in the cache .*offline mode is on/);
      return true;
    });
    assert.equal(f.hub.requests.length, 0);
    delete process.env['HF_HUB_OFFLINE'];
    const online = await f.pull(`${REPO}/model.Q4_K_M.gguf`);
    f.hub.clearLog();
    assert.deepEqual(await f.pull(`${REPO}:Q4_K_M`, { offline: true }), online);
    await assert.rejects(f.pull(`${REPO}/model.Q8_0.gguf`, { offline: true }), /model\.Q8_0\.gguf of org\/model-GGUF at revision main not found in the cache .*offline mode is on/);
    assert.equal(f.hub.requests.length, 0);
  });

  it('falls back to the cache when the hub cannot be reached', async () => {
    const online = await f.pull(`${REPO}:Q4_K_M`);
    assert.deepEqual(await f.pull(`${REPO}:Q4_K_M`, { endpoint: 'http://127.0.0.1:9', retries: 0 }), online);
    await assert.rejects(f.pull(`${REPO}:Q8_0`, { endpoint: 'http://127.0.0.1:9', retries: 1 }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_DOWNLOAD');
      assert.match(error.message, /failed after 2 attempts/);
      return true;
    });
  });
});

describe('localDir (huggingface-cli download --local-dir)', () => {
  it('writes a real file and its metadata, and skips it on a re-run', async () => {
    const localDir = join(f.dir, 'models');
    const [path] = await f.pull(REPO, { include: 'sub/dir/model.F16.gguf', localDir });
    assert.equal(path, join(localDir, 'sub', 'dir', 'model.F16.gguf'));
    assert.ok(lstatSync(path!).isFile() && !lstatSync(path!).isSymbolicLink());
    assertContent(path!, 'sub/dir/model.F16.gguf');
    const metadataPath = join(localDir, '.cache', 'huggingface', 'download', 'sub', 'dir', 'model.F16.gguf.metadata');
    const [commit, etag, time, end] = readFileSync(metadataPath, 'utf8').split('\n');
    assert.equal(commit, f.hub.commitOf(REPO));
    assert.equal(etag, sha256(contentOf(repo, 'sub/dir/model.F16.gguf')));
    assert.match(time!, /^\d+\.\d+$/, 'a float, like time.time()');
    assert.ok(Math.abs(Number(time) - Date.now() / 1000) < 60);
    assert.equal(end, '');
    assert.equal(readFileSync(join(localDir, '.cache', 'huggingface', '.gitignore'), 'utf8'), '*');
    assert.equal(existsSync(join(f.cache, 'models--org--model-GGUF', 'blobs')), false, 'nothing in the cache');

    f.hub.clearLog();
    assert.deepEqual(await f.pull(REPO, { include: 'sub/dir/model.F16.gguf', localDir }), [path]);
    assert.equal(f.hub.count((r) => r.method === 'GET'), 0, 'no download on a re-run');
    assert.deepEqual(await f.pull(REPO, { include: 'sub/dir/model.F16.gguf', localDir, revision: commit! }), [path]);
    assert.deepEqual(await resolveModel(`${REPO}:F16`, { localDir }), [path]);
  });

  it('re-downloads a file whose metadata is stale and whose content changed', async () => {
    const localDir = join(f.dir, 'models');
    const [path] = await f.pull(`${REPO}/model.Q4_K_M.gguf`, { localDir });
    writeFileSync(path!, 'edited by hand');
    // Edited later than the metadata's time (huggingface_hub allows 1 s of slack for coarse mtimes).
    const later = new Date(Date.now() + 5_000);
    utimesSync(path!, later, later);
    f.hub.clearLog();
    await f.pull(`${REPO}/model.Q4_K_M.gguf`, { localDir });
    assertContent(path!, 'model.Q4_K_M.gguf');
    assert.equal(f.hub.count((r) => r.server === 'storage'), 1);
  });
});

describe('errors users can act on', () => {
  it('a missing file: ERR_NOT_FOUND listing the GGUF files and quantisations', async () => {
    await assert.rejects(f.pull(`${REPO}/model.Q2_K.gguf`), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_NOT_FOUND');
      assert.match(error.message, /model\.Q2_K\.gguf was not found in org\/model-GGUF at revision main/);
      assert.match(error.message, /GGUF files in the repository: model\.Q4_K_M\.gguf \(Q4_K_M\), model\.Q8_0\.gguf \(Q8_0\), split\/model-Q6_K-00001-of-00003\.gguf \(Q6_K, 3 parts\), sub\/dir\/model\.F16\.gguf \(F16\)/);
      assert.match(error.message, /Quantisations: F16, Q4_K_M, Q6_K, Q8_0 \(ask for one as "org\/model-GGUF:F16"\)/);
      return true;
    });
  });

  it('a missing quantisation: ERR_NOT_FOUND listing the available ones', async () => {
    await assert.rejects(f.pull(`hf:${REPO}:IQ2_XXS`), /no GGUF file of quantisation IQ2_XXS\. Available quantisations: F16, Q4_K_M, Q6_K, Q8_0/);
  });

  it('a missing repository or revision: ERR_NOT_FOUND', async () => {
    await assert.rejects(f.pull('org/nothing:Q4_K_M'), { code: 'ERR_NOT_FOUND', message: /Repository org\/nothing was not found .*if it is private, set HF_TOKEN/ });
    await assert.rejects(f.pull('org/nothing/x.gguf'), { code: 'ERR_NOT_FOUND', message: /Repository org\/nothing was not found/ });
    await assert.rejects(f.pull(`${REPO}:Q4_K_M`, { revision: 'v9' }), { code: 'ERR_NOT_FOUND', message: /Revision "v9" of org\/model-GGUF was not found/ });
  });

  it('a full disk: ERR_DOWNLOAD saying how many bytes are needed', async () => {
    const { hubTuning } = await import('../lib/hub/tuning.js');
    hubTuning.freeBytes = async () => 1000;
    await assert.rejects(f.pull(`${REPO}/model.Q8_0.gguf`), { code: 'ERR_DOWNLOAD', message: /Not enough disk space for org\/model-GGUF\/model\.Q8_0\.gguf in .*: 163840 more bytes are needed/ });
  });
});

describe('gated repositories and the token', () => {
  const gated = { ...standardRepo('org/gated'), gatedToken: 'hf_secret' };
  beforeEach(() => {
    f.hub.addRepo(gated);
  });

  it('ERR_ACCESS_DENIED without the token, then OK with HF_TOKEN, the option or the saved login', async () => {
    await assert.rejects(f.pull('org/gated:Q4_K_M'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_ACCESS_DENIED');
      assert.match(error.message, /gated or private\. Accept its licence on http:\/\/127\.0\.0\.1:\d+\/org\/gated .*set HF_TOKEN \(or pass the "token" option\).*no token was sent/);
      return true;
    });
    await assert.rejects(f.pull('org/gated:Q4_K_M', { token: 'hf_wrong' }), { code: 'ERR_ACCESS_DENIED', message: /the token that was sent does not give access/ });

    process.env['HF_TOKEN'] = 'hf_secret';
    const [fromEnv] = await f.pull('org/gated/model.Q8_0.gguf');
    assert.ok(readFileSync(fromEnv!).equals(contentOf(gated, 'model.Q8_0.gguf')));
    delete process.env['HF_TOKEN'];

    assert.equal((await f.pull('org/gated/README.md', { token: 'hf_secret' })).length, 1);
    await assert.rejects(f.pull('org/gated/sub/dir/model.F16.gguf', { token: false }), { code: 'ERR_ACCESS_DENIED' });

    mkdirSync(f.home, { recursive: true });
    writeFileSync(join(f.home, 'token'), 'hf_secret\n');
    assert.equal((await f.pull('org/gated:Q4_K_M')).length, 1);

    assert.ok(f.hub.count((r) => r.server === 'hub' && r.authorization === 'Bearer hf_secret') >= 3, 'the hub got the token');
    assert.ok(f.hub.count((r) => r.server === 'storage' && r.status === 200) >= 2, 'the storage host served files');
  });

  it('follows a relative redirect (a renamed repository), the token still on the hub only', async () => {
    f.hub.addRepo({ ...standardRepo('org/new-name'), renamedFrom: 'org/old-name' });
    const [path] = await f.pull('org/old-name/model.Q4_K_M.gguf', { token: 'hf_any' });
    assert.ok(readFileSync(path!).equals(contentOf(repo, 'model.Q4_K_M.gguf')));
    assert.ok(path!.includes('models--org--old-name'), 'cached under the name asked for, as huggingface_hub does');
    assert.ok(f.hub.count((r) => r.path.startsWith('/org/new-name/resolve/') && r.authorization === 'Bearer hf_any') === 1);
  });
});
