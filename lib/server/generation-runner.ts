/**
 * Runs one generation for /v1/chat/completions or /v1/completions: admission, the engine job,
 * then either one JSON answer or an SSE stream. The endpoint supplies the prompt tokens and the
 * shape of its response objects; everything about queueing, abort, backpressure, errors and
 * metrics is here, once.
 */
import { performance } from 'node:perf_hooks';
import type { FinishReason, Generation, GenerationResult, TokenLogprob } from '../index.js';
import { HttpError, toHttpError } from './errors.js';
import { CLIENT_GONE_STATUS, ClientGone, type Exchange } from './exchange.js';
import { sendJson } from './http-io.js';
import type { GenerationFields } from './sampling-fields.js';
import { SseWriter } from './sse.js';

/** OpenAI's usage object. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** The response objects of one endpoint. */
export interface ResponseShape {
  /** Stream events sent before the first text (chat: the assistant role). */
  opening(): object[];
  /** The stream event carrying a text delta and, when asked for, its tokens' log-probabilities. */
  delta(text: string, logprobs: readonly TokenLogprob[] | undefined): object;
  /** The stream event carrying the finish reason. */
  closing(finishReason: string): object;
  /** The stream event carrying usage (empty choices), sent when `stream_options.include_usage`. */
  usage(usage: Usage): object;
  /** The whole answer of a request that did not ask to stream. */
  complete(text: string, finishReason: string, usage: Usage, logprobs: readonly TokenLogprob[] | undefined): object;
}

/** Runs the job and answers; returns the status to record (499 when the client left). */
export async function runGeneration(
  x: Exchange,
  prompt: readonly number[],
  fields: GenerationFields,
  shape: ResponseShape,
  promptParam: string,
): Promise<number> {
  const { engine } = x;
  const { context } = engine.loaded;
  assertFits(prompt.length, context.sequenceSize, context.size, engine.options.parallel, promptParam);

  const stop = new AbortController();
  const forward = (signal: AbortSignal) => () => stop.abort(signal.reason);
  const onGone = forward(x.clientGone);
  const onDeadline = forward(engine.deadlineSignal);
  x.clientGone.addEventListener('abort', onGone, { once: true });
  engine.deadlineSignal.addEventListener('abort', onDeadline, { once: true });
  if (x.clientGone.aborted) onGone();
  try {
    let release: () => void;
    try {
      release = await engine.admission.acquire(stop.signal);
    } catch (error) {
      if (error instanceof ClientGone) return CLIENT_GONE_STATUS;
      throw error;
    }
    let generation: Generation | undefined;
    try {
      generation = context.generate(prompt, { ...fields.options, signal: stop.signal });
      return await deliver(x, generation, fields, shape, stop.signal);
    } finally {
      // The sequence is free only once the job has settled; then the next request may take it.
      await generation?.result.catch(() => {});
      release();
    }
  } finally {
    x.clientGone.removeEventListener('abort', onGone);
    engine.deadlineSignal.removeEventListener('abort', onDeadline);
  }
}

function assertFits(tokens: number, sequenceSize: number, size: number, parallel: number, param: string): void {
  if (tokens === 0) throw new HttpError(400, 'The prompt has no tokens', { param, code: 'invalid_value' });
  if (tokens >= sequenceSize) {
    throw new HttpError(
      400,
      `The prompt has ${tokens} tokens but a request can hold ${sequenceSize} (context ${size} / ${parallel} parallel); ` +
        'it must leave room for at least one generated token',
      { param, code: 'context_length_exceeded' },
    );
  }
}

async function deliver(
  x: Exchange,
  generation: Generation,
  fields: GenerationFields,
  shape: ResponseShape,
  signal: AbortSignal,
): Promise<number> {
  const { metrics } = x.engine;
  let writer: SseWriter<object> | undefined;
  const open = (): SseWriter<object> => {
    if (writer === undefined) {
      writer = new SseWriter<object>(x.res, (text, logprobs) => shape.delta(text, logprobs));
      for (const event of shape.opening()) writer.event(event);
    }
    return writer;
  };
  let result: GenerationResult;
  try {
    let last: number | undefined;
    for await (const chunk of generation) {
      const now = performance.now();
      if (chunk.tokens.length > 0) {
        if (last === undefined) metrics.firstToken((now - x.arrivedAt) / 1000);
        else metrics.interTokens((now - last) / 1000, chunk.tokens.length);
        last = now;
      }
      if (fields.stream) open().text(chunk.text, chunk.logprobs);
    }
    result = await generation.result;
  } catch (error) {
    if (writer === undefined) throw error;
    x.engine.noteFailure(error);
    const failure = toHttpError(error, x.engine.shuttingDown);
    writer.event(failure.body());
    writer.end();
    return failure.status;
  }
  metrics.tokens(result.promptTokens, result.cachedTokens, result.generatedTokens);

  if (result.finishReason === 'abort') {
    if (signal.reason instanceof ClientGone) return CLIENT_GONE_STATUS;
    const failure = signal.reason instanceof HttpError ? signal.reason : new HttpError(503, 'The generation was aborted');
    if (writer === undefined) throw failure;
    writer.event(failure.body());
    writer.end();
    return failure.status;
  }
  const finishReason = openAiFinishReason(result.finishReason);
  const usage: Usage = {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.generatedTokens,
    total_tokens: result.promptTokens + result.generatedTokens,
    prompt_tokens_details: { cached_tokens: result.cachedTokens },
  };
  if (!fields.stream) {
    sendJson(x.res, 200, shape.complete(result.text, finishReason, usage, result.logprobs));
    return 200;
  }
  const sse = open();
  sse.event(shape.closing(finishReason));
  if (fields.includeUsage) sse.event(shape.usage(usage));
  sse.done();
  return 200;
}

/** End of generation and stop strings are both `stop` for OpenAI; a full sequence is `length`. */
function openAiFinishReason(reason: Exclude<FinishReason, 'abort'>): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop';
}
