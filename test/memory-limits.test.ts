// Memory limits are errors, not the OOM killer: how much host memory the process can still get
// (fake /proc and cgroup files), ERR_OUT_OF_MEMORY from the pre-checks of loadModel and
// createContext (faked limits in this process; a real RLIMIT_AS and the machine's real
// MemAvailable in child processes), and llama.cpp's own allocation failures reported the same way.
import assert from 'node:assert/strict';
import { freemem, totalmem } from 'node:os';
import { afterEach, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { isLlamaError, LlamaError } from '../lib/errors.js';
import { estimateMemory } from '../lib/estimate.js';
import { allocationFailure, memoryCheckHooks, quickContextBytes } from '../lib/memory-check.js';
import { MEMORY_MARGIN, OutOfMemoryError, addressSpaceHeadroom, hostMemory, type HostMemory } from '../lib/memory-limits.js';
import { loadModel } from '../lib/model.js';
import { resolveContextOptions } from '../lib/options/context.js';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A reader over fake files. */
function files(contents: Record<string, string>): (path: string) => string | undefined {
  return (path) => contents[path];
}

const MEMINFO = 'MemTotal:       24684092 kB\nMemFree:        21238640 kB\nMemAvailable:    8388608 kB\n'; // 8 GiB available
const UNLIMITED_AS = 'Limit                     Soft Limit           Hard Limit           Units     \nMax address space         unlimited            unlimited            bytes     \n';

describe('hostMemory (fake /proc)', () => {
  it('is MemAvailable when nothing else limits', () => {
    const host = hostMemory(files({ '/proc/meminfo': MEMINFO, '/proc/self/cgroup': '0::/\n', '/proc/self/limits': UNLIMITED_AS }), 'linux');
    assert.deepEqual(host, { available: 8 * GiB, limitedBy: 'MemAvailable' });
  });

  it('takes a cgroup v2 limit minus the working set (inactive file cache is reclaimable), over every ancestor', () => {
    const read = files({
      '/proc/meminfo': MEMINFO,
      '/proc/self/cgroup': '0::/system.slice/app.service\n',
      '/sys/fs/cgroup/system.slice/app.service/memory.max': 'max\n',
      '/sys/fs/cgroup/system.slice/memory.max': `${2 * GiB}\n`,
      '/sys/fs/cgroup/system.slice/memory.current': `${1536 * MiB}\n`,
      '/sys/fs/cgroup/system.slice/memory.stat': `anon 1000\nfile 2000\ninactive_file ${512 * MiB}\nactive_file 5\n`,
      '/sys/fs/cgroup/memory.max': 'max\n',
    });
    assert.deepEqual(hostMemory(read, 'linux'), { available: 1 * GiB, limitedBy: 'cgroup' });
  });

  it('takes a cgroup v1 memory limit; a v1 "unlimited" (2^63 rounded to a page) is none', () => {
    const v1 = (limit: string): ReturnType<typeof files> =>
      files({
        '/proc/meminfo': MEMINFO,
        '/proc/self/cgroup': '5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n',
        '/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes': `${limit}\n`,
        '/sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes': `${300 * MiB}\n`,
        '/sys/fs/cgroup/memory/docker/abc/memory.stat': `cache 0\ntotal_inactive_file ${100 * MiB}\n`,
        '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
      });
    assert.deepEqual(hostMemory(v1(String(1 * GiB)), 'linux'), { available: 824 * MiB, limitedBy: 'cgroup' });
    assert.deepEqual(hostMemory(v1('9223372036854771712'), 'linux'), { available: 8 * GiB, limitedBy: 'MemAvailable' });
  });

  it("uses the hierarchy's root when the process's cgroup path is not visible (no cgroup namespace)", () => {
    const read = files({
      '/proc/meminfo': MEMINFO,
      '/proc/self/cgroup': '0::/kubepods/pod1/ctr\n',
      '/sys/fs/cgroup/memory.max': `${512 * MiB}\n`,
      '/sys/fs/cgroup/memory.current': `${128 * MiB}\n`,
    });
    assert.deepEqual(hostMemory(read, 'linux'), { available: 384 * MiB, limitedBy: 'cgroup' });
  });

  it('takes RLIMIT_AS (ulimit -v) minus the virtual size', () => {
    const read = files({
      '/proc/meminfo': MEMINFO,
      '/proc/self/limits': `Max cpu time              unlimited            unlimited            seconds   \nMax address space         ${4 * GiB}           ${4 * GiB}           bytes     \n`,
      '/proc/self/status': `Name:\tnode\nVmPeak:\t 3000000 kB\nVmSize:\t 3145728 kB\nVmRSS:\t 100000 kB\n`,
    });
    assert.deepEqual(hostMemory(read, 'linux'), { available: 1 * GiB, limitedBy: 'RLIMIT_AS' });
    assert.equal(addressSpaceHeadroom(read), 1 * GiB);
    assert.equal(addressSpaceHeadroom(files({ '/proc/self/limits': UNLIMITED_AS })), undefined);
  });

  it('falls back to os.freemem() without /proc/meminfo, and off Linux', () => {
    assert.equal(hostMemory(files({}), 'linux').limitedBy, 'freemem');
    assert.equal(hostMemory(files({}), 'win32').limitedBy, 'freemem');
    assert.deepEqual(hostMemory(files({}), 'darwin'), { available: totalmem(), limitedBy: 'totalmem' });
  });

  it('reads this machine', () => {
    const host = hostMemory();
    assert.ok(host.available > 0 && host.available <= totalmem(), JSON.stringify(host));
    if (process.platform === 'linux') assert.ok(host.available >= freemem() * 0.5, JSON.stringify(host));
  });
});

describe('OutOfMemoryError', () => {
  it('is a LlamaError with the code and the numbers', () => {
    const error = new OutOfMemoryError('x', { needed: 2, available: 1, device: 'host', limitedBy: 'cgroup', stage: 'estimate' });
    assert.ok(error instanceof LlamaError);
    assert.ok(isLlamaError(error, 'ERR_OUT_OF_MEMORY'));
    assert.equal(error.name, 'LlamaError');
    assert.deepEqual(
      { needed: error.needed, available: error.available, device: error.device, limitedBy: error.limitedBy, stage: error.stage },
      { needed: 2, available: 1, device: 'host', limitedBy: 'cgroup', stage: 'estimate' },
    );
  });

  it("recognises the addon's ERR_OUT_OF_MEMORY and reads the failed buffer's size and device from llama.cpp's text", () => {
    const native = Object.assign(
      new Error(
        'llama.cpp could not create the context: ggml_aligned_malloc: insufficient memory (attempted to allocate 1024.00 MB)\n' +
          'ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 1073741824\n' +
          'llama_init_from_model: failed to initialize the context: failed to allocate buffer for kv cache',
      ),
      { code: 'ERR_OUT_OF_MEMORY' },
    );
    const error = allocationFailure(native, 'A context', 5 * MiB, 'do less');
    assert.ok(error instanceof OutOfMemoryError);
    assert.equal(error.stage, 'allocation');
    assert.equal(error.needed, 1073741824);
    assert.equal(error.device, 'host');
    assert.equal(error.cause, native);
    assert.match(error.message, /^A context could not be allocated .*To fix: do less\. llama\.cpp: .*kv cache/s);
    assert.equal(allocationFailure(Object.assign(new Error('x'), { code: 'ERR_CONTEXT_CREATE' }), 'A context', 1, ''), undefined);
    assert.equal(allocationFailure(error, 'A context', 1, ''), undefined, 'an OutOfMemoryError is not wrapped twice');
  });
});

describe('pre-checks, with the host memory faked', () => {
  let longPath: string;
  let realProbe: () => HostMemory;
  before(async () => {
    longPath = await fixtureModel({ kind: 'llama', type: 'F32', contextLength: 1 << 22 });
    realProbe = memoryCheckHooks.hostMemory;
  });
  afterEach(() => {
    memoryCheckHooks.hostMemory = realProbe;
  });
  const fake = (available: number): void => {
    memoryCheckHooks.hostMemory = () => ({ available, limitedBy: 'cgroup' });
  };

  it('createContext refuses a KV cache beyond the limit, and the model still creates a small context', async () => {
    await using model = await loadModel(longPath);
    fake(200 * MiB);
    // 1M tokens × 2 layers × 64 KV dims (K + V) × 2 bytes = 256 MiB.
    const error = await model.createContext({ contextSize: 1 << 20, sequences: 4, batchSize: 32, threads: 1 }).then(
      () => assert.fail('created'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof OutOfMemoryError, String(error));
    assert.equal(error.code, 'ERR_OUT_OF_MEMORY');
    assert.equal(error.stage, 'estimate');
    assert.equal(error.limitedBy, 'cgroup');
    assert.equal(error.available, 200 * MiB);
    assert.ok(error.needed >= 256 * MiB && error.needed < 768 * MiB, String(error.needed));
    assert.match(error.message, /A context of 1048576 tokens \(4 sequences\) does not fit: it needs \d+ MiB of host memory/);
    assert.match(error.message, /smaller contextSize or fewer sequences, a quantized KV cache/);
    assert.match(error.stack ?? '', /memory-limits\.test\.ts/, "the caller's stack");
    await using context = await model.createContext({ contextSize: 256, batchSize: 32, threads: 1 });
    assert.equal(context.size, 256);
  });

  it('a context near the limit is simulated, and created when the simulation says it fits', async () => {
    await using model = await loadModel(longPath);
    const params = resolveContextOptions({ contextSize: 1 << 18, batchSize: 32, threads: 1 }, 1 << 22); // 64 MiB of KV cache
    const quick = quickContextBytes(model.info, params);
    fake(MEMORY_MARGIN + 2 * quick); // the screen (4 × quick) does not pass; the simulation decides
    await using context = await model.createContext({ contextSize: 1 << 18, batchSize: 32, threads: 1 });
    assert.equal(context.size, 1 << 18);
  });

  it('loadModel with useMmap: false refuses weights beyond the limit; a memory-mapped load is not refused', async () => {
    const big = await fixtureModel({ kind: 'llama', type: 'F32', embeddingLength: 1024 }); // 278 MiB
    fake(200 * MiB);
    await assert.rejects(loadModel(big, { useMmap: false }), (error: unknown) => {
      assert.ok(error instanceof OutOfMemoryError, String(error));
      assert.equal(error.stage, 'estimate');
      assert.ok(error.needed > 270 * MiB && error.needed < 290 * MiB, String(error.needed));
      assert.match(error.message, /^Model ".*" does not fit: .*keep useMmap on/);
      return true;
    });
    await assert.rejects(loadModel(big, { useMlock: true }), (error: unknown) => isLlamaError(error, 'ERR_OUT_OF_MEMORY'));
    await (await loadModel(big)).dispose();
  });

  it('estimateMemory reports the host memory this process can get as free', async () => {
    const estimate = await estimateMemory(longPath, { context: { contextSize: 512 } });
    assert.ok(estimate.host.free <= totalmem() && estimate.host.free > 0);
    assert.ok(Math.abs(estimate.host.free - hostMemory().available) < 512 * MiB, `${estimate.host.free} vs ${hostMemory().available}`);
  });
});

const HAS_PRLIMIT = process.platform === 'linux' && spawnSync('prlimit', ['--version']).status === 0;

/** Under `npm run test:sanitize`: AddressSanitizer reserves terabytes of address space for its shadow memory, so no RLIMIT_AS leaves it room. */
const UNDER_ASAN = (process.env['LD_PRELOAD'] ?? '').includes('libasan');
const RLIMIT_SKIP = !HAS_PRLIMIT ? 'needs Linux and util-linux prlimit' : UNDER_ASAN ? 'AddressSanitizer cannot run under an address-space limit' : false;

describe('under a real address-space limit (RLIMIT_AS, child process)', { skip: RLIMIT_SKIP }, () => {
  const HEADROOM = 200 * MiB;
  let results: Record<string, Record<string, unknown>>;
  let bigSize: number;
  before(async () => {
    const longPath = await fixtureModel({ kind: 'llama', type: 'F32', contextLength: 1 << 22 });
    const big = await fixtureModel({ kind: 'llama', type: 'F32', embeddingLength: 1024 });
    bigSize = (await import('node:fs')).statSync(big).size;
    // One malloc arena: a new thread's arena reserves 64 MiB of address space, at random moments.
    const outcome = await runChild('memory-limit.ts', [longPath, big, String(HEADROOM)], 60_000, { MALLOC_ARENA_MAX: '1' });
    assert.equal(outcome.code, 0, describeOutcome(outcome));
    results = (outcome.report as { results: typeof results }).results;
  });
  const oom = (name: string, stage: string, limitedBy = 'RLIMIT_AS'): Record<string, unknown> => {
    const r = results[name]!;
    assert.equal(r['code'], 'ERR_OUT_OF_MEMORY', JSON.stringify(r));
    assert.equal(r['name'], 'LlamaError');
    assert.equal(r['stage'], stage, JSON.stringify(r));
    assert.equal(r['limitedBy'], limitedBy, JSON.stringify(r));
    assert.ok((r['needed'] as number) > (r['available'] as number), JSON.stringify(r));
    assert.ok((r['available'] as number) <= HEADROOM, JSON.stringify(r));
    return r;
  };

  it('a context far beyond the limit: ERR_OUT_OF_MEMORY before allocating', () => {
    const r = oom('contextEstimate', 'estimate');
    assert.ok((r['needed'] as number) >= 1 * GiB, JSON.stringify(r));
  });
  it("the same context with the pre-check off: llama.cpp's failed allocation, reported the same way", () => {
    const r = oom('contextAllocation', 'allocation');
    assert.match(r['message'] as string, /failed to allocate buffer for kv cache|bad_alloc/);
  });
  it('loadModel with useMmap: false of a file larger than the limit: ERR_OUT_OF_MEMORY before loading', () => {
    const r = oom('loadNoMmapEstimate', 'estimate');
    assert.ok((r['needed'] as number) > bigSize * 0.9, JSON.stringify(r));
  });
  it('the same load with the pre-check off: "unable to allocate CPU buffer", reported the same way', () => {
    const r = oom('loadNoMmapAllocation', 'allocation');
    assert.match(r['message'] as string, /unable to allocate CPU buffer/);
  });
  it('a memory-mapped load larger than the address space left: ERR_OUT_OF_MEMORY', () => {
    const r = oom('loadMappedEstimate', 'estimate');
    assert.equal(r['needed'], bigSize);
  });
  it('afterwards the process creates a small context and generates', () => {
    assert.equal(results['smallAfterwards']!['ok'], true, JSON.stringify(results['smallAfterwards']));
  });
});

describe("beyond this machine's available memory (child process)", { skip: process.platform !== 'linux' && 'reads /proc/meminfo' }, () => {
  it('a context of twice MemAvailable with many sequences: ERR_OUT_OF_MEMORY, not the OOM killer', async () => {
    // 32 layers × 256 KV dims (K + V) × 2 bytes = 16 KiB of f16 KV cache per token.
    const spec = { kind: 'llama', type: 'F32', layerCount: 32, embeddingLength: 128, headCount: 8, headCountKv: 8 } as const;
    const path = await fixtureModel({ ...spec, contextLength: 1 << 24 });
    const tokens = Math.min(1 << 24, Math.ceil((2 * hostMemory().available) / (16 * 1024) / 256) * 256);
    const outcome = await runChild('memory-available.ts', [path, String(tokens), '64'], 60_000);
    assert.equal(outcome.code, 0, describeOutcome(outcome));
    const r = outcome.report as Record<string, unknown> & { host: HostMemory };
    assert.equal(r['code'], 'ERR_OUT_OF_MEMORY', JSON.stringify(r));
    assert.equal(r['stage'], 'estimate');
    assert.equal(r['limitedBy'], r.host.limitedBy);
    assert.ok((r['needed'] as number) > (r['available'] as number));
    assert.ok((r['peakRss'] as number) < 1 * GiB, `peak RSS ${r['peakRss']}: something was allocated`);
    console.log(`# refused ${tokens} tokens × 64 sequences in ${(r['ms'] as number).toFixed(0)} ms: ${String(r['message'])}`);
  });
});
