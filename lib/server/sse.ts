/**
 * Server-sent events with backpressure. Each response has its own writer: when the client reads
 * slowly and `res.write()` says the socket buffer is full, new text (and its tokens'
 * log-probabilities, when asked for) is not queued as more events but appended to one pending
 * delta, sent as a single event at the next 'drain'. Memory per slow client is then bounded by
 * the text of its own generation (at most one sequence of tokens), and the shared engine never
 * waits for any one reader.
 */
import type { ServerResponse } from 'node:http';
import type { TokenLogprob } from '../index.js';

export class SseWriter<Event> {
  readonly #res: ServerResponse;
  /** Builds the event that carries a (possibly coalesced) text delta. */
  readonly #textEvent: (text: string, logprobs: readonly TokenLogprob[] | undefined) => Event;
  #pending = '';
  #pendingLogprobs: TokenLogprob[] | undefined;
  #blocked = false;

  constructor(
    res: ServerResponse,
    textEvent: (text: string, logprobs: readonly TokenLogprob[] | undefined) => Event,
    headers: Record<string, string> = {},
  ) {
    this.#res = res;
    this.#textEvent = textEvent;
    res.writeHead(200, {
      ...headers,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      // nginx buffers proxied responses unless told otherwise; SSE must reach the client per event.
      'X-Accel-Buffering': 'no',
    });
    res.on('drain', () => {
      this.#blocked = false;
      this.#flushText();
    });
  }

  /** Whether the client is gone (nothing more will be delivered). */
  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded;
  }

  /** Bytes of text waiting for the socket to drain (for tests and metrics). */
  get pendingText(): number {
    return this.#pending.length;
  }

  /**
   * Sends a text delta now, or coalesces it with what is waiting if the socket is full. Tokens
   * whose text is still held back (an incomplete character, a possible stop string) send their
   * log-probabilities with the text that follows.
   */
  text(delta: string, logprobs?: readonly TokenLogprob[]): void {
    if (this.closed) return;
    if (logprobs !== undefined && logprobs.length > 0) (this.#pendingLogprobs ??= []).push(...logprobs);
    if (delta === '') return;
    this.#pending += delta;
    if (!this.#blocked) this.#flushText();
  }

  /**
   * Sends a structural event (role, finish reason, usage, error) after any pending text, even
   * when the socket is full: there are at most a handful per response, so they cannot grow
   * without bound, and their order matters.
   */
  event(event: Event | { error: unknown }): void {
    this.#flushText();
    this.#write(event);
  }

  /** Ends the stream with OpenAI's `data: [DONE]` terminator. */
  done(): void {
    this.#flushText();
    if (!this.closed) this.#res.end('data: [DONE]\n\n');
  }

  /** Ends the stream without the terminator (after an error event). */
  end(): void {
    this.#flushText();
    if (!this.closed) this.#res.end();
  }

  #flushText(): void {
    if (this.#pending === '' && this.#pendingLogprobs === undefined) return;
    const text = this.#pending;
    const logprobs = this.#pendingLogprobs;
    this.#pending = '';
    this.#pendingLogprobs = undefined;
    this.#write(this.#textEvent(text, logprobs));
  }

  #write(event: unknown): void {
    if (this.closed) return;
    if (!this.#res.write(`data: ${JSON.stringify(event)}\n\n`)) this.#blocked = true;
  }
}
