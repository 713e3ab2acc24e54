// Download speed against the mock hub with a per-connection bandwidth limit, as a CDN or a
// congested route imposes: one stream versus parallel ranged parts (like hf_transfer), and the
// bytes a resume fetches. Asserts correctness only; the figures are reported with
// t.diagnostic() (timing depends on the machine).
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtureBytes } from './mock-hub/server.js';
import { hubFixture, sha256, type HubFixture } from './mock-hub/setup.js';

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
const PER_CONNECTION = 8 * MiB; // bytes per second
const CONTENT = fixtureBytes(SIZE, 7);
const ETAG = sha256(CONTENT);

let f: HubFixture;
before(async () => {
  f = await hubFixture([{ id: 'org/speed', files: [{ path: 'big.Q8_0.gguf', content: CONTENT }] }]);
});
after(async () => {
  assert.deepEqual(f.hub.leakedAuthorization, []);
  await f.close();
});

/** Pulls into a fresh cache; returns the seconds it took. */
async function timedPull(cacheName: string, options: { connections: number; parallelThreshold?: number }): Promise<number> {
  const began = performance.now();
  const [path] = await f.pull('org/speed:Q8_0', { cacheDir: join(f.dir, cacheName), ...options });
  const seconds = (performance.now() - began) / 1000;
  assert.ok(readFileSync(path!).equals(CONTENT), 'the bytes are right');
  return seconds;
}

describe('download speed with 8 MiB/s per connection, 32 MiB file', () => {
  it('one stream vs parallel ranged parts', async (t) => {
    f.hub.bytesPerSecond = PER_CONNECTION;
    const single = await timedPull('single', { connections: 1 });
    const singleRequests = f.hub.count((r) => r.server === 'storage');
    f.hub.clearLog();
    const parallel = await timedPull('parallel', { connections: 8, parallelThreshold: 16 * MiB });
    const parts = f.hub.requests.filter((r) => r.server === 'storage');
    assert.equal(singleRequests, 1);
    assert.equal(parts.length, 8, 'eight ranged parts');
    assert.ok(parts.every((r) => r.status === 206 && r.bytes === SIZE / 8));
    t.diagnostic(`32 MiB at 8 MiB/s per connection: one stream ${single.toFixed(2)} s (${(SIZE / MiB / single).toFixed(1)} MiB/s), 8 parallel parts ${parallel.toFixed(2)} s (${(SIZE / MiB / parallel).toFixed(1)} MiB/s), ${(single / parallel).toFixed(1)}x`);
  });

  it('resume after a cut at 50% fetches the remainder only', async (t) => {
    f.hub.bytesPerSecond = 0;
    f.hub.clearLog();
    f.hub.cutNext('storage', ETAG, SIZE / 2);
    const cacheDir = join(f.dir, 'resume');
    await assert.rejects(f.pull('org/speed:Q8_0', { cacheDir, retries: 0, connections: 1 }), { code: 'ERR_DOWNLOAD' });
    const kept = statSync(join(cacheDir, 'models--org--speed', 'blobs', `${ETAG}.incomplete`)).size;
    f.hub.clearLog();
    const [path] = await f.pull('org/speed:Q8_0', { cacheDir, connections: 1 });
    const [resumed] = f.hub.requests.filter((r) => r.server === 'storage');
    assert.equal(resumed!.range, `bytes=${kept}-`);
    assert.equal(resumed!.bytes, SIZE - kept);
    assert.ok(readFileSync(path!).equals(CONTENT));
    t.diagnostic(`resume: ${kept} bytes kept after the cut, the resumed request served ${resumed!.bytes} bytes = the remainder (${SIZE - kept}) of ${SIZE}`);
  });
});
