// Downloads against the mock hub (test/mock-hub/): resume after a cut, verification, retries,
// parallel ranged parts, two processes pulling one file, locks, and abort.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PullProgress } from '../lib/hub/index.js';
import { hubTuning } from '../lib/hub/tuning.js';
import { fixtureBytes, type MockRepo } from './mock-hub/server.js';
import { hubFixture, sha256, type HubFixture } from './mock-hub/setup.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = 'org/dl';
const BIG = fixtureBytes(2 * 1024 * 1024, 42); // 2 MiB: big enough for parts, small enough to be quick
const SMALL = Buffer.from('{"small": "config"}\n');
const repo: MockRepo = {
  id: REPO,
  files: [
    { path: 'big.Q4_K_M.gguf', content: BIG },
    { path: 'config.json', content: SMALL },
  ],
};
const ETAG = sha256(BIG);
const blobs = (f: HubFixture) => join(f.cache, 'models--org--dl', 'blobs');
const storageGets = (f: HubFixture) => f.hub.requests.filter((r) => r.server === 'storage' && r.method === 'GET');

let f: HubFixture;
beforeEach(async () => {
  f = await hubFixture([repo]);
});
afterEach(async () => {
  assert.deepEqual(f.hub.leakedAuthorization, []);
  await f.close();
});

describe('resume', () => {
  it('after a cut at 50%, the next pull fetches only the rest', async (t) => {
    f.hub.cutNext('storage', ETAG, BIG.length / 2);
    await assert.rejects(f.pull(`${REPO}:Q4_K_M`, { retries: 0 }), { code: 'ERR_DOWNLOAD', message: /failed after 1 attempts: .*/ });
    const kept = statSync(join(blobs(f), `${ETAG}.incomplete`)).size;
    // What arrived is kept; Node drops the last few KiB it had buffered when the connection
    // ends early, so slightly less than the server wrote.
    assert.ok(kept <= BIG.length / 2 && kept > BIG.length / 2 - 65536, `kept ${kept} of ${BIG.length / 2} sent`);
    assert.equal(existsSync(join(blobs(f), ETAG)), false, 'no half file under the final name');

    f.hub.clearLog();
    const [path] = await f.pull(`${REPO}:Q4_K_M`);
    const [resumed] = storageGets(f);
    assert.equal(storageGets(f).length, 1);
    assert.equal(resumed!.range, `bytes=${kept}-`);
    assert.equal(resumed!.status, 206);
    assert.equal(resumed!.bytes, BIG.length - kept, 'the server sent the remainder only');
    assert.ok(readFileSync(path!).equals(BIG));
    t.diagnostic(`resume after a cut at 50% of ${BIG.length} bytes: the resumed request served ${resumed!.bytes} bytes (the remainder: ${BIG.length - kept})`);
  });

  it('a cut mid-file within one pull is retried from where it stopped', async () => {
    f.hub.cutNext('storage', ETAG, 300_000, 2);
    const [path] = await f.pull(`${REPO}/big.Q4_K_M.gguf`);
    assert.ok(readFileSync(path!).equals(BIG));
    const starts = storageGets(f).map((r) => (r.range === undefined ? 0 : Number(/^bytes=(\d+)-$/.exec(r.range)![1])));
    assert.equal(starts.length, 3);
    assert.ok(starts[1]! > 300_000 - 65536 && starts[1]! <= 300_000, `resumed at ${starts[1]}`);
    assert.ok(starts[2]! > starts[1]! + 300_000 - 65536 && starts[2]! <= starts[1]! + 300_000, `resumed at ${starts[2]}`);
  });

  it('starts over when the server ignores Range (200 instead of 206)', async () => {
    f.hub.cutNext('storage', ETAG, 500_000);
    await assert.rejects(f.pull(`${REPO}:Q4_K_M`, { retries: 0 }));
    f.hub.ignoreRanges = true;
    const [path] = await f.pull(`${REPO}:Q4_K_M`);
    assert.ok(readFileSync(path!).equals(BIG));
  });
});

describe('verification', () => {
  it('a wrong hash: ERR_INTEGRITY, and nothing under the final name', async () => {
    f.hub.corruptNext('storage', ETAG);
    await assert.rejects(f.pull(`${REPO}:Q4_K_M`), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_INTEGRITY');
      assert.match(error.message, new RegExp(`big\\.Q4_K_M\\.gguf failed verification: expected ${BIG.length} bytes hashing to ${ETAG}`));
      return true;
    });
    assert.deepEqual(readdirSync(blobs(f)), [], 'neither the blob nor its .incomplete');
    assert.equal(existsSync(join(f.cache, 'models--org--dl', 'snapshots')), false);
    assert.ok(readFileSync((await f.pull(`${REPO}:Q4_K_M`))[0]!).equals(BIG), 'the next pull starts clean');
  });

  it('checks small files against their git blob id too', async () => {
    f.hub.corruptNext('hub', 'config.json');
    await assert.rejects(f.pull(`${REPO}/config.json`), { code: 'ERR_INTEGRITY' });
    assert.ok(readFileSync((await f.pull(`${REPO}/config.json`))[0]!).equals(SMALL));
  });
});

describe('a full disk', () => {
  it('ENOSPC while writing: ERR_DOWNLOAD saying how many bytes are needed', { skip: !existsSync('/dev/full') && 'needs /dev/full' }, async () => {
    // The .incomplete is a link to /dev/full, where every write fails with ENOSPC.
    mkdirSync(blobs(f), { recursive: true });
    symlinkSync('/dev/full', join(blobs(f), `${ETAG}.incomplete`));
    await assert.rejects(f.pull(`${REPO}:Q4_K_M`), (error: Error & { code?: string; cause?: { code?: string } }) => {
      assert.equal(error.code, 'ERR_DOWNLOAD');
      assert.match(error.message, new RegExp(`Not enough disk space for org/dl/big\\.Q4_K_M\\.gguf in .*: ${BIG.length} more bytes are needed`));
      assert.equal(error.cause?.code, 'ENOSPC');
      return true;
    });
    assert.equal(existsSync(join(blobs(f), ETAG)), false);
  });
});

describe('retries', () => {
  it('5xx, then success; on the hub and on the storage host', async () => {
    f.hub.failNext('hub', '/resolve/', 502, 2);
    f.hub.failNext('storage', ETAG, 503, 2);
    const [path] = await f.pull(`${REPO}:Q4_K_M`);
    assert.ok(readFileSync(path!).equals(BIG));
    assert.equal(f.hub.count((r) => r.status >= 500), 4);
  });

  it('429 waits for Retry-After', async () => {
    f.hub.failNext('storage', ETAG, 429, 1, { 'Retry-After': '1' });
    const began = Date.now();
    await f.pull(`${REPO}:Q4_K_M`, { retryDelayMs: 1 });
    assert.ok(Date.now() - began >= 900, 'waited about a second');
  });

  it('gives up after the retries: ERR_DOWNLOAD with the cause', async () => {
    f.hub.failNext('storage', ETAG, 500, 10);
    await assert.rejects(f.pull(`${REPO}:Q4_K_M`, { retries: 2 }), (error: Error & { code?: string; cause?: unknown }) => {
      assert.equal(error.code, 'ERR_DOWNLOAD');
      assert.match(error.message, /Downloading org\/dl\/big\.Q4_K_M\.gguf failed after 3 attempts: .* answered HTTP 500/);
      assert.ok(error.cause instanceof Error);
      return true;
    });
  });
});

describe('parallel ranged parts', () => {
  it('fetches a large file in parts at offsets, retrying a part that is cut', async () => {
    f.hub.cutNext('storage', ETAG, 100_000);
    const progress: PullProgress[] = [];
    // Parts are at least 1 MiB, so 2 MiB makes two parts even with more connections allowed.
    const [path] = await f.pull(`${REPO}:Q4_K_M`, { parallelThreshold: 1024 * 1024, connections: 4, onProgress: (p) => progress.push(p) });
    assert.ok(readFileSync(path!).equals(BIG));
    const ranges = storageGets(f).map((r) => r.range).sort();
    assert.equal(ranges.length, 3, 'two parts and one retry');
    assert.ok(ranges.includes('bytes=0-1048575') && ranges.includes('bytes=1048576-2097151'), String(ranges));
    // The cut part resumes where its bytes stopped arriving (at most the 100000 sent; Node may drop a few KiB in flight).
    const resumed = ranges.filter((r) => r !== 'bytes=0-1048575' && r !== 'bytes=1048576-2097151').map((r) => /^bytes=(\d+)-(\d+)$/.exec(r!)!.slice(1).map(Number));
    assert.equal(resumed.length, 1, String(ranges));
    const [[from, to]] = resumed as [[number, number]];
    const partStart = to === 1048575 ? 0 : 1048576;
    assert.ok(from > partStart && from <= partStart + 100_000, `the cut part resumed where it stopped: ${ranges}`);
    assert.equal(existsSync(join(blobs(f), `${ETAG}.incomplete.parallel`)), false);
    assert.equal(progress.filter((p) => p.downloadedBytes === BIG.length).length, 1, 'the end is reported once');
    assert.ok(progress.length >= 2 && progress.every((p, i) => i === 0 || p.downloadedBytes >= progress[i - 1]!.downloadedBytes));
    assert.deepEqual(progress.at(-1), { repo: REPO, file: 'big.Q4_K_M.gguf', fileIndex: 0, fileCount: 1, downloadedBytes: BIG.length, totalBytes: BIG.length, cached: false });
  });

  it('falls back to one stream when the server ignores Range', async () => {
    f.hub.ignoreRanges = true;
    const [path] = await f.pull(`${REPO}:Q4_K_M`, { parallelThreshold: 1024 * 1024, connections: 4 });
    assert.ok(readFileSync(path!).equals(BIG));
  });

  it('after a crash mid-parallel, keeps only the prefix known to be whole', async () => {
    mkdirSync(blobs(f), { recursive: true });
    const incomplete = join(blobs(f), `${ETAG}.incomplete`);
    const holey = Buffer.alloc(BIG.length);
    BIG.copy(holey, 0, 0, 4096);
    writeFileSync(incomplete, holey);
    writeFileSync(`${incomplete}.parallel`, '4096');
    const [path] = await f.pull(`${REPO}:Q4_K_M`);
    assert.deepEqual(storageGets(f).map((r) => r.range), ['bytes=4096-']);
    assert.ok(readFileSync(path!).equals(BIG));
  });
});

describe('abort', () => {
  it('stops promptly with ERR_ABORTED, keeps the .incomplete, and the next pull resumes', async () => {
    f.hub.bytesPerSecond = 1024 * 1024;
    const controller = new AbortController();
    const began = Date.now();
    const pulling = f.pull(`${REPO}:Q4_K_M`, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.downloadedBytes > 200_000) controller.abort();
      },
    });
    await assert.rejects(pulling, { code: 'ERR_ABORTED' });
    assert.ok(Date.now() - began < 1500, 'promptly');
    const kept = statSync(join(blobs(f), `${ETAG}.incomplete`)).size;
    assert.ok(kept > 0 && kept < BIG.length);
    f.hub.bytesPerSecond = 0;
    f.hub.clearLog();
    await f.pull(`${REPO}:Q4_K_M`);
    assert.equal(storageGets(f)[0]!.range, `bytes=${kept}-`);
    await assert.rejects(f.pull(`${REPO}:Q4_K_M`, { signal: AbortSignal.abort() }), { code: 'ERR_ABORTED' });
  });
});

describe('two pulls of one file', () => {
  it('two calls in this process and one child process download it once', async () => {
    f.hub.bytesPerSecond = 1024 * 1024; // 2 s: long enough for the child process to start meanwhile
    // The child starts first (its start-up is slow); the two in-process pulls join once it reached the hub.
    const child = runChild(`${REPO}:Q4_K_M`);
    for (const deadline = Date.now() + 30_000; f.hub.count((r) => r.method === 'HEAD') === 0; ) {
      assert.ok(Date.now() < deadline, 'the child process reached the hub');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [a, b, c] = await Promise.all([f.pull(`${REPO}:Q4_K_M`), f.pull(`${REPO}/big.Q4_K_M.gguf`), child]);
    assert.deepEqual(a, b);
    assert.deepEqual(c, { paths: a });
    assert.equal(storageGets(f).length, 1, 'one download');
    const heads = f.hub.requests.filter((r) => r.method === 'HEAD');
    assert.equal(heads.length, 3);
    assert.ok(heads.every((head) => head.startedAt < storageGets(f)[0]!.endedAt), 'all three were pulling while the download ran');
    assert.ok(readFileSync(a[0]!).equals(BIG));
    assert.deepEqual(readdirSync(join(f.cache, '.locks', 'models--org--dl')), [], 'the lock is released');
  });

  it('takes over the lock of a dead process', async () => {
    const locks = join(f.cache, '.locks', 'models--org--dl');
    mkdirSync(locks, { recursive: true });
    const dead = await deadPid();
    writeFileSync(join(locks, `${ETAG}.llama-napi.lock`), JSON.stringify({ pid: dead, host: (await import('node:os')).hostname(), token: 'x' }));
    const [path] = await f.pull(`${REPO}:Q4_K_M`);
    assert.ok(readFileSync(path!).equals(BIG));
  });

  it('takes over a lock whose heartbeat stopped', async () => {
    hubTuning.lockStaleMs = 300;
    const locks = join(f.cache, '.locks', 'models--org--dl');
    mkdirSync(locks, { recursive: true });
    writeFileSync(join(locks, `${ETAG}.llama-napi.lock`), JSON.stringify({ pid: process.pid, host: 'another-host', token: 'y' }));
    const began = Date.now();
    await f.pull(`${REPO}:Q4_K_M`);
    assert.ok(Date.now() - began >= 250, 'waited for the lock to go stale');
  });
});

/** Pulls in a child process with this process's environment (the mock hub, the temp cache). */
async function runChild(ref: string): Promise<unknown> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(here, 'mock-hub', 'pull-child.ts'), JSON.stringify({ ref, options: { retryDelayMs: 5 } })], {
    env: process.env,
    timeout: 30_000,
  });
  return JSON.parse(stdout);
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}
