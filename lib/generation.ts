/**
 * One text generation: an async iterable of chunks plus a promise of the final result.
 * Owns the per-job policy — queueing, abort, stop strings, UTF-8 streaming, statistics —
 * over a single native `generate` call.
 */
import { LlamaError, fromNativeError, withCallerStack, type CallerStack } from './errors.js';
import { noop } from './lifetime.js';
import type {
  NativeFinishReason,
  NativeGenerateParams,
  NativeGenerateResult,
  NativeSamplerStage,
  NativeTokenCallback,
} from './native.js';
import { TextStream } from './text-stream.js';
import { argTypeError } from './validate.js';

/** Why a generation ended. */
export type FinishReason =
  /** The model produced an end-of-generation token (EOS, EOT…). */
  | 'eog'
  /** `maxTokens` was reached, or the context filled up. */
  | 'length'
  /** A stop string appeared (it is not part of the text). */
  | 'stop'
  /** `abort()`, the AbortSignal, or leaving the `for await` loop early. */
  | 'abort';

/** A token's log-probability, and the most likely tokens at its step (see {@link GenerateOptions.logprobs}). */
export interface TokenLogprob {
  /** The generated token's id. */
  token: number;
  /** Its natural-log probability under the model's distribution at that step (`<= 0`). */
  logprob: number;
  /** The `topLogprobs` most likely tokens at that step, most likely first (empty when `topLogprobs` is 0). */
  topLogprobs: Array<{ token: number; logprob: number }>;
}

/** One piece of streamed output: what one native step produced. */
export interface GenerationChunk {
  /** New text; always well-formed (never ends inside a character). May be empty while a multi-byte character or a possible stop string is incomplete. */
  text: string;
  /** The token ids generated in this step (empty for the final flush of held-back text). */
  tokens: number[];
  /** With `logprobs: true`: one entry per token of `tokens`, in order. */
  logprobs?: TokenLogprob[];
}

/** Summary of a finished generation. */
export interface GenerationResult {
  /** All emitted text (the concatenation of every chunk's text). */
  text: string;
  /** All generated token ids, up to the one that completed a stop string. */
  tokens: number[];
  /** Why generation ended. */
  finishReason: FinishReason;
  /** Tokens in the prompt. */
  promptTokens: number;
  /** Prompt tokens whose KV cache entries were kept from the context's previous job (see `cachePrompt`); only the rest was evaluated. */
  cachedTokens: number;
  /** Tokens generated (as counted by the native loop, including any after a stop string was seen). */
  generatedTokens: number;
  /** Prompt processing speed (0 when nothing was measured). */
  promptTokensPerSecond: number;
  /** Generation speed after the prompt (0 when nothing was measured). */
  generationTokensPerSecond: number;
  /** Milliseconds from the start of native work to the first generated token; `null` if none was generated. */
  timeToFirstTokenMs: number | null;
  /** With `logprobs: true`: one entry per token of `tokens`, in order. */
  logprobs?: TokenLogprob[];
  /**
   * Where the tokens were chosen: `'device'` — inside the decode graph (llama.cpp's backend
   * sampling; on the CPU backend when the model runs there), every token; `'host'` — by the
   * sampler chain on the CPU after the logits were copied back (also when nothing was sampled).
   * See {@link GenerateOptions.deviceSampling}.
   */
  sampledOn: 'device' | 'host';
}

/**
 * What a {@link Generation} needs from the context that runs it.
 * @internal
 */
export interface GenerationHost {
  /**
   * Runs `job` when the host lets it start. A context starts it at once (its addon schedules the
   * generations it is given); a test host may hold it back to stand in for a busy context.
   */
  enqueue<T>(job: () => Promise<T>): Promise<T>;
  /** Throws `ERR_DISPOSED` if the context (or its model) is gone. */
  assertUsable(): void;
  /** Whether the context has been disposed (a native abort then means ERR_DISPOSED). */
  readonly disposed: boolean;
  /** Tokens one generation can hold (the context's size per sequence). */
  readonly size: number;
  /** Starts native generation. */
  generate(prompt: Int32Array, sampler: NativeSamplerStage[], params: NativeGenerateParams, onTokens: NativeTokenCallback): Promise<NativeGenerateResult>;
  /** Aborts native job `id`. */
  abort(id: number): void;
}

/**
 * The validated request of one generation.
 * @internal
 */
export interface GenerationRequest {
  prompt: Int32Array;
  sampler: NativeSamplerStage[];
  maxTokens: number;
  cachePrompt: boolean;
  priority: number;
  /** `-1`: no log-probabilities; `k >= 0`: each token's and the `k` most likely. */
  topLogprobs: number;
  /** Ask the addon to sample inside the decode graph (see lib/sampling.ts `samplesOnDevice`). */
  deviceSampling: boolean;
  stop: readonly string[];
  signal: AbortSignal | undefined;
  /** Stack of the `generate()` call, given to async errors. */
  callerStack: CallerStack;
  /**
   * Called with the result before `result` resolves and before iteration ends, so whoever
   * keeps state across generations (a chat session) has it updated when the caller resumes.
   */
  onFinish?: (result: GenerationResult) => void;
}

/** Ids of native jobs: unique among a context's running jobs (wraps after 2^32). */
let lastJobId = 0;
function nextJobId(): number {
  lastJobId = (lastJobId + 1) >>> 0;
  return lastJobId;
}

type Waiter = { resolve: (result: IteratorResult<GenerationChunk>) => void; reject: (error: unknown) => void };

/**
 * A running (or queued, or finished) generation, returned by {@link Context.generate}.
 *
 * The job starts at once — it does not wait for iteration — and chunks are buffered until
 * read. Iterate it with `for await` to stream text; await {@link Generation.result} for the
 * totals (or both). Leaving the loop early (`break`, `return`, an exception) aborts the job;
 * the context stays usable.
 */
export class Generation implements AsyncIterable<GenerationChunk> {
  /**
   * Settles when the job ends: resolves with the totals (also for `'abort'` and `'stop'`),
   * rejects with a {@link LlamaError} (`ERR_CONTEXT_FULL`, `ERR_DISPOSED`, `ERR_DECODE`, …).
   * An unobserved rejection is not reported as unhandled; iteration throws the same error.
   */
  readonly result: Promise<GenerationResult>;

  readonly #host: GenerationHost;
  readonly #request: GenerationRequest;
  readonly #stream: TextStream;
  readonly #chunks: GenerationChunk[] = [];
  #waiter: Waiter | undefined;
  #done = false;
  #error: unknown;
  #errorDelivered = false;
  #iterated = false;
  /** The consumer left the loop: nothing more is buffered or delivered. */
  #closed = false;
  #running = false;
  #abortRequested = false;
  readonly #id = nextJobId();
  #text = '';
  readonly #tokens: number[] = [];
  readonly #logprobs: TokenLogprob[] = [];

  /** @internal Use {@link Context.generate}. */
  constructor(host: GenerationHost, request: GenerationRequest) {
    this.#host = host;
    this.#request = request;
    this.#stream = new TextStream(request.stop);
    this.result = this.#run();
    this.result.catch(noop);
  }

  /**
   * Stops the generation as soon as possible (within one decode step). `result` then resolves
   * with `finishReason: 'abort'` and the text produced so far (unless a stop string already
   * ended it: then `'stop'`). No-op once `result` has settled.
   */
  abort(): void {
    if (this.#done || this.#abortRequested) return;
    this.#abortRequested = true;
    if (this.#running) this.#host.abort(this.#id);
  }

  /** Streams the chunks. A generation can be iterated once. */
  [Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    if (this.#iterated) throw argTypeError('A Generation can be iterated only once');
    this.#iterated = true;
    return {
      next: () => this.#next(),
      return: async () => {
        // Leaving `for await` early: stop the native work, drop what was not read.
        this.#closed = true;
        this.#chunks.length = 0;
        this.abort();
        return { done: true, value: undefined };
      },
    };
  }

  #next(): Promise<IteratorResult<GenerationChunk>> {
    const chunk = this.#chunks.shift();
    if (chunk !== undefined) return Promise.resolve({ done: false, value: chunk });
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    if (this.#done) {
      if (this.#error !== undefined && !this.#errorDelivered) {
        this.#errorDelivered = true;
        return Promise.reject(this.#error);
      }
      return Promise.resolve({ done: true, value: undefined });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #emit(chunk: GenerationChunk): void {
    this.#text += chunk.text;
    this.#tokens.push(...chunk.tokens);
    if (chunk.logprobs !== undefined) this.#logprobs.push(...chunk.logprobs);
    if (this.#closed) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter.resolve({ done: false, value: chunk });
    } else {
      this.#chunks.push(chunk);
    }
  }

  #finish(error: unknown): void {
    this.#done = true;
    this.#error = error;
    const waiter = this.#waiter;
    if (waiter === undefined || this.#closed) return;
    this.#waiter = undefined;
    if (error !== undefined) {
      this.#errorDelivered = true;
      waiter.reject(error);
    } else {
      waiter.resolve({ done: true, value: undefined });
    }
  }

  async #run(): Promise<GenerationResult> {
    const { signal } = this.#request;
    const onAbort = (): void => this.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // Checked before queueing: a prompt that can never fit fails at once, not after the queue.
      this.#assertFits();
      if (signal?.aborted) this.abort();
      const result = await this.#host.enqueue(() => this.#execute());
      this.#request.onFinish?.(result);
      this.#finish(undefined);
      return result;
    } catch (error) {
      const failure = withCallerStack(fromNativeError(error), this.#request.callerStack);
      this.#finish(failure);
      throw failure;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #execute(): Promise<GenerationResult> {
    const { prompt, sampler, maxTokens, cachePrompt, priority, topLogprobs, deviceSampling } = this.#request;
    this.#host.assertUsable(); // the context may have been disposed while this job waited
    if (this.#abortRequested) return this.#summary('abort', undefined, null);

    let firstTokenAt: number | null = null;
    const startedAt = performance.now();
    const onTokens: NativeTokenCallback = (tokens, bytes, logprobs, topIds, topValues) => {
      if (this.#stream.stopped) return; // late tokens after the stop string: not part of the output
      firstTokenAt ??= performance.now();
      const { text, stopped } = this.#stream.push(bytes);
      if (text.length === 0 && tokens.length === 0) return;
      const chunk: GenerationChunk = { text, tokens: Array.from(tokens) };
      if (logprobs !== undefined) chunk.logprobs = tokenLogprobs(tokens, logprobs, topIds, topValues);
      this.#emit(chunk);
      if (stopped && this.#running) this.#host.abort(this.#id);
    };

    let native: NativeGenerateResult;
    this.#running = true;
    try {
      native = await this.#host.generate(prompt, sampler, { maxTokens, cachePrompt, priority, topLogprobs, deviceSampling, id: this.#id }, onTokens);
    } catch (error) {
      // A job's own abort resolves with finishReason 'abort'; the addon rejects a running job
      // with ERR_ABORTED only when the whole context is torn down, which is a disposal here.
      if (this.#host.disposed) throw new LlamaError('ERR_DISPOSED', 'The context was disposed during generation', { cause: error });
      throw error;
    } finally {
      this.#running = false;
    }
    const timeToFirstTokenMs = firstTokenAt === null ? null : firstTokenAt - startedAt;

    if (this.#stream.stopped) return this.#summary('stop', native, timeToFirstTokenMs);
    if (native.finishReason === 'abort' && !this.#abortRequested && this.#host.disposed) {
      throw new LlamaError('ERR_DISPOSED', 'The context was disposed during generation');
    }
    // Release held-back text (it never became a stop string) and incomplete bytes (as U+FFFD).
    const tail = this.#stream.end();
    if (tail.text.length > 0) this.#emit({ text: tail.text, tokens: [] });
    if (tail.stopped) return this.#summary('stop', native, timeToFirstTokenMs);
    // An abort requested before the job settled wins even if native work just finished on its
    // own: the caller asked to stop, and "abort" tells it the text may be cut short.
    const reason = this.#abortRequested ? 'abort' : finishReasonOf(native.finishReason);
    return this.#summary(reason, native, timeToFirstTokenMs);
  }

  #assertFits(): void {
    const { length } = this.#request.prompt;
    if (length >= this.#host.size) {
      throw new LlamaError(
        'ERR_CONTEXT_FULL',
        `The prompt has ${length} tokens but the context holds ${this.#host.size}; ` +
          'it must leave room for at least one generated token',
      );
    }
  }

  #summary(
    finishReason: FinishReason,
    native: NativeGenerateResult | undefined,
    timeToFirstTokenMs: number | null,
  ): GenerationResult {
    const promptTokens = native?.promptTokens ?? this.#request.prompt.length;
    const generatedTokens = native?.generatedTokens ?? this.#tokens.length;
    const summary: GenerationResult = {
      text: this.#text,
      tokens: [...this.#tokens],
      finishReason,
      promptTokens,
      cachedTokens: native?.cachedTokens ?? 0,
      generatedTokens,
      promptTokensPerSecond: perSecond(promptTokens, native?.promptMicros),
      generationTokensPerSecond: perSecond(generatedTokens, native?.generateMicros),
      timeToFirstTokenMs,
      sampledOn: native?.sampledOn ?? 'host',
    };
    if (this.#request.topLogprobs >= 0) summary.logprobs = [...this.#logprobs];
    return summary;
  }
}

/**
 * The native callback's flat arrays as one {@link TokenLogprob} per token. Every token has the
 * same number of alternatives: `topLogprobs`, or the vocabulary size if that is smaller.
 */
function tokenLogprobs(
  tokens: Int32Array,
  logprobs: Float32Array,
  topIds: Int32Array = new Int32Array(0),
  topValues: Float32Array = new Float32Array(0),
): TokenLogprob[] {
  const entries: TokenLogprob[] = [];
  const k = tokens.length > 0 ? topIds.length / tokens.length : 0;
  for (let i = 0; i < tokens.length; i++) {
    const topLogprobs: TokenLogprob['topLogprobs'] = [];
    for (let j = i * k; j < (i + 1) * k; j++) topLogprobs.push({ token: topIds[j]!, logprob: topValues[j]! });
    entries.push({ token: tokens[i]!, logprob: logprobs[i]!, topLogprobs });
  }
  return entries;
}

function finishReasonOf(reason: NativeFinishReason): FinishReason {
  switch (reason) {
    case 'eog':
      return 'eog';
    case 'abort':
      return 'abort';
    case 'length':
    case 'context-full':
      return 'length';
  }
}

function perSecond(count: number, micros: number | undefined): number {
  return micros !== undefined && micros > 0 ? (count * 1e6) / micros : 0;
}
