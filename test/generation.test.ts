// The Generation state machine over a fake native context: queueing, abort, stop strings,
// streaming, statistics and errors. Pure TypeScript: no addon needed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LlamaError } from '../lib/errors.js';
import { Generation, type GenerationHost, type GenerationRequest } from '../lib/generation.js';
import { noop } from '../lib/lifetime.js';
import type { NativeFinishReason, NativeGenerateResult } from '../lib/native.js';

const utf8 = new TextEncoder();

interface FakeState {
  generateCalls: number;
  abortCalls: number;
  aborted: boolean;
  disposed: boolean;
}

/**
 * Runs async jobs one at a time, in the order they were queued.
 *
 * The fake host's stand-in for a context with one sequence, where the addon makes further
 * generations wait their turn. A failing job does not block the ones behind it.
 */
class JobQueue {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  /** Jobs queued or running. */
  get pending(): number {
    return this.#pending;
  }

  /** Queues `job`; the returned promise settles with the job's outcome once it has run. */
  run<T>(job: () => Promise<T> | T): Promise<T> {
    this.#pending++;
    const result = this.#tail.then(job).finally(() => {
      this.#pending--;
    });
    this.#tail = result.then(noop, noop);
    return result;
  }

  /** Resolves once every job queued so far has settled. */
  idle(): Promise<void> {
    return this.#tail;
  }
}

/** A GenerationHost that streams scripted steps, one per macrotask, and honours abort. */
function fakeHost(
  steps: ReadonlyArray<readonly [number[], string | Uint8Array]>,
  options: { size?: number; finish?: NativeFinishReason; rejectAbort?: boolean } = {},
): { host: GenerationHost; state: FakeState } {
  const state: FakeState = { generateCalls: 0, abortCalls: 0, aborted: false, disposed: false };
  const queue = new JobQueue();
  const result = (finishReason: NativeFinishReason, generatedTokens: number): NativeGenerateResult => ({
    finishReason,
    promptTokens: 3,
    cachedTokens: 0,
    generatedTokens,
    promptMicros: 1000,
    generateMicros: 2000,
    sampledOn: 'host',
  });
  const host: GenerationHost = {
    enqueue: (job) => queue.run(job),
    assertUsable() {
      if (state.disposed) throw new LlamaError('ERR_DISPOSED', 'The context has been disposed');
    },
    get disposed() {
      return state.disposed;
    },
    size: options.size ?? 100,
    async generate(_prompt, _sampler, _params, onTokens) {
      state.generateCalls++;
      state.aborted = false;
      let generated = 0;
      for (const [tokens, bytes] of steps) {
        await new Promise((resolve) => setImmediate(resolve));
        if (state.aborted) {
          if (options.rejectAbort) throw Object.assign(new Error('aborted'), { code: 'ERR_ABORTED' });
          return result('abort', generated);
        }
        onTokens(Int32Array.from(tokens), typeof bytes === 'string' ? utf8.encode(bytes) : bytes);
        generated += tokens.length;
      }
      return result(options.finish ?? 'eog', generated);
    },
    abort() {
      state.abortCalls++;
      state.aborted = true;
    },
  };
  return { host, state };
}

function request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    prompt: Int32Array.of(1, 2, 3),
    sampler: [{ type: 'greedy' }],
    maxTokens: -1,
    cachePrompt: true,
    priority: 0,
    topLogprobs: -1,
    deviceSampling: false,
    stop: [],
    signal: undefined,
    callerStack: undefined,
    ...overrides,
  };
}

const HELLO_STEPS = [
  [[10], 'Hel'],
  [[11], 'lo'],
  [[12], ' wor'],
  [[13], 'ld'],
] as const satisfies ReadonlyArray<readonly [number[], string]>;

async function collect(generation: Generation) {
  const chunks = [];
  for await (const chunk of generation) chunks.push(chunk);
  return chunks;
}

describe('Generation (fake native context)', () => {
  it('streams one chunk per native callback and summarises the result', async () => {
    const { host } = fakeHost(HELLO_STEPS, { finish: 'context-full' });
    const generation = new Generation(host, request());
    const chunks = await collect(generation);
    assert.deepEqual(chunks, [
      { text: 'Hel', tokens: [10] },
      { text: 'lo', tokens: [11] },
      { text: ' wor', tokens: [12] },
      { text: 'ld', tokens: [13] },
    ]);
    const result = await generation.result;
    assert.equal(result.text, 'Hello world');
    assert.deepEqual(result.tokens, [10, 11, 12, 13]);
    assert.equal(result.finishReason, 'length', "native 'context-full' is reported as 'length'");
    assert.equal(result.promptTokens, 3);
    assert.equal(result.generatedTokens, 4);
    assert.equal(result.promptTokensPerSecond, 3000);
    assert.equal(result.generationTokensPerSecond, 2000);
    assert.ok(result.timeToFirstTokenMs !== null && result.timeToFirstTokenMs >= 0);
  });

  it('buffers chunks until iterated (the job starts without a reader)', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const generation = new Generation(host, request());
    const result = await generation.result;
    assert.equal(state.generateCalls, 1);
    assert.equal(result.finishReason, 'eog');
    assert.equal((await collect(generation)).map((c) => c.text).join(''), 'Hello world');
  });

  it('keeps a token whose bytes end inside a character as a chunk with empty text', async () => {
    const euro = utf8.encode('€');
    const { host } = fakeHost([
      [[1], euro.subarray(0, 1)],
      [[2], euro.subarray(1)],
    ]);
    const chunks = await collect(new Generation(host, request()));
    assert.deepEqual(chunks, [
      { text: '', tokens: [1] },
      { text: '€', tokens: [2] },
    ]);
  });

  it('ends at a stop string split across tokens, aborts native work, reports "stop"', async () => {
    const { host, state } = fakeHost([...HELLO_STEPS, [[14], ' more']]);
    const generation = new Generation(host, request({ stop: [' world'] }));
    const text = (await collect(generation)).map((c) => c.text).join('');
    const result = await generation.result;
    assert.equal(text, 'Hello');
    assert.equal(result.text, 'Hello');
    assert.equal(result.finishReason, 'stop');
    assert.deepEqual(result.tokens, [10, 11, 12, 13], 'tokens up to the one that completed the stop string');
    assert.equal(state.abortCalls, 1);
  });

  it('releases held-back text at a natural end', async () => {
    const { host } = fakeHost([[[1], 'ab <']]);
    const generation = new Generation(host, request({ stop: ['</s>'] }));
    const chunks = await collect(generation);
    assert.deepEqual(chunks, [
      { text: 'ab ', tokens: [1] },
      { text: '<', tokens: [] },
    ]);
    assert.equal((await generation.result).finishReason, 'eog');
  });

  it('does not call native code when the signal is already aborted', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const generation = new Generation(host, request({ signal: AbortSignal.abort() }));
    const result = await generation.result;
    assert.equal(result.finishReason, 'abort');
    assert.equal(result.text, '');
    assert.equal(state.generateCalls, 0);
    assert.deepEqual(await collect(generation), []);
  });

  it('aborts during generation via the signal and keeps the partial text', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const controller = new AbortController();
    const generation = new Generation(host, request({ signal: controller.signal }));
    const texts: string[] = [];
    for await (const chunk of generation) {
      texts.push(chunk.text);
      if (texts.length === 2) controller.abort();
    }
    const result = await generation.result;
    assert.equal(result.finishReason, 'abort');
    assert.equal(result.text, 'Hello');
    assert.equal(state.abortCalls, 1);
  });

  it('an ERR_ABORTED rejection is a disposal when the context was disposed, else an error', async () => {
    // The addon resolves a job's own abort with finishReason 'abort'; it rejects a running job
    // with ERR_ABORTED only when the whole context is torn down.
    const disposed = fakeHost(HELLO_STEPS, { rejectAbort: true });
    const torn = new Generation(disposed.host, request());
    torn.result.catch(() => {});
    await assert.rejects(
      (async () => {
        for await (const chunk of torn) {
          assert.equal(chunk.text, 'Hel');
          disposed.state.disposed = true;
          disposed.host.abort(0);
        }
      })(),
      { code: 'ERR_DISPOSED' },
    );
    await assert.rejects(torn.result, { name: 'LlamaError', code: 'ERR_DISPOSED' });

    const live = fakeHost(HELLO_STEPS, { rejectAbort: true });
    const failed = new Generation(live.host, request());
    failed.result.catch(() => {});
    await assert.rejects(
      (async () => {
        for await (const chunk of failed) {
          assert.equal(chunk.text, 'Hel');
          failed.abort();
        }
      })(),
      { code: 'ERR_ABORTED' },
    );
    await assert.rejects(failed.result, { code: 'ERR_ABORTED' });
  });

  it('aborts when the consumer breaks out of for await', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const generation = new Generation(host, request());
    for await (const chunk of generation) {
      assert.equal(chunk.text, 'Hel');
      break;
    }
    const result = await generation.result;
    assert.equal(result.finishReason, 'abort');
    assert.equal(state.abortCalls, 1);
  });

  it('rejects with ERR_CONTEXT_FULL before running when the prompt fills the context', async () => {
    const { host, state } = fakeHost(HELLO_STEPS, { size: 3 });
    const generation = new Generation(host, request());
    await assert.rejects(generation.result, { name: 'LlamaError', code: 'ERR_CONTEXT_FULL' });
    await assert.rejects(collect(generation), { code: 'ERR_CONTEXT_FULL' });
    assert.equal(state.generateCalls, 0);
  });

  it('rejects an oversized prompt at once, without waiting for the queue', async () => {
    const { host } = fakeHost(HELLO_STEPS, { size: 3 });
    const running = new Generation(host, request({ prompt: Int32Array.of(1) }));
    const tooLong = new Generation(host, request());
    let runningDone = false;
    void running.result.then(() => (runningDone = true));
    await assert.rejects(tooLong.result, { code: 'ERR_CONTEXT_FULL' });
    assert.equal(runningDone, false);
    await running.result;
  });

  it('rejects with ERR_DISPOSED when the context is disposed mid-generation', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const generation = new Generation(host, request());
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const chunk of generation) {
          seen.push(chunk.text);
          state.disposed = true;
          host.abort(0);
        }
      })(),
      { code: 'ERR_DISPOSED' },
    );
    await assert.rejects(generation.result, { code: 'ERR_DISPOSED' });
    assert.deepEqual(seen, ['Hel']);
  });

  it('rejects queued jobs with ERR_DISPOSED without running them', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const first = new Generation(host, request());
    const second = new Generation(host, request());
    state.disposed = true;
    host.abort(0);
    await assert.rejects(first.result, { code: 'ERR_DISPOSED' });
    await assert.rejects(second.result, { code: 'ERR_DISPOSED' });
  });

  it('runs generations on one context one at a time, in order', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const results = await Promise.all([1, 2, 3].map(() => new Generation(host, request()).result));
    assert.deepEqual(results.map((r) => r.text), ['Hello world', 'Hello world', 'Hello world']);
    assert.equal(state.generateCalls, 3);
  });

  it('does not abort the next job when abort() is called on a finished one', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const first = new Generation(host, request());
    await first.result;
    const second = new Generation(host, request());
    first.abort();
    assert.equal((await second.result).finishReason, 'eog');
    assert.equal(state.abortCalls, 0);
  });

  it('aborting a queued generation leaves the running one alone', async () => {
    const { host, state } = fakeHost(HELLO_STEPS);
    const first = new Generation(host, request());
    const second = new Generation(host, request());
    second.abort();
    assert.equal((await first.result).finishReason, 'eog');
    assert.equal((await second.result).finishReason, 'abort');
    assert.equal(state.generateCalls, 1);
  });

  it('does not report an unobserved failed result as an unhandled rejection', async () => {
    let unhandled = 0;
    const onUnhandled = (): void => {
      unhandled++;
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const { host } = fakeHost(HELLO_STEPS, { size: 1 });
      new Generation(host, request());
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(unhandled, 0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('can be iterated only once', () => {
    const { host } = fakeHost([]);
    const generation = new Generation(host, request());
    generation[Symbol.asyncIterator]();
    assert.throws(() => generation[Symbol.asyncIterator](), TypeError);
  });

  it('gives async errors the stack of the generate() call', async () => {
    const { host } = fakeHost(HELLO_STEPS, { size: 1 });
    const callerStack = new Error('marker').stack!.replace('marker', '');
    const generation = new Generation(host, request({ callerStack: { stack: callerStack } }));
    const error = await generation.result.catch((e: Error) => e);
    assert.ok(error instanceof LlamaError);
    assert.match(error.stack ?? '', /^LlamaError: The prompt has 3 tokens/);
    assert.match(error.stack ?? '', /generation\.test\.ts/);
  });
});
