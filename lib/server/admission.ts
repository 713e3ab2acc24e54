/**
 * Admission control: at most `slots` requests run at once (one per sequence of the context), at
 * most `maxQueue` more wait, first come first served; beyond that a request is refused at once
 * with 503 + `Retry-After`, so a flood costs the server nothing but the refusals.
 *
 * Up to `handoff` of the waiting requests (at most `slots`, at most `maxQueue`) are already given
 * to the engine, where they wait in the context's own queue: when a sequence frees, the native
 * scheduler starts the next request in the same step, instead of the sequence idling until the
 * event loop has seen the finished request, released its slot and submitted the next one. With
 * more clients than sequences that idle step per request was measured at several percent of
 * throughput. The context's queue is first come first served like this one (the server gives
 * every request the same priority), so the order is unchanged, and the gauges still count a
 * request handed off but not yet started as queued.
 */
import { HttpError } from './errors.js';

interface Waiter {
  grant: (release: () => void) => void;
  fail: (error: unknown) => void;
}

/** Seconds a refused client is told to wait before retrying. */
export const RETRY_AFTER_SECONDS = 1;

export class Admission {
  readonly slots: number;
  readonly maxQueue: number;
  /** Waiting requests that may already be given to the engine. */
  readonly handoff: number;
  /** Requests given to the engine: running, or waiting in its queue. */
  #granted = 0;
  readonly #waiting: Waiter[] = [];
  readonly #idleWaiters: Array<() => void> = [];
  /** Set by {@link Admission.close}: every later request is refused with it. */
  #closedWith: unknown = undefined;

  constructor(slots: number, maxQueue: number) {
    this.slots = slots;
    this.maxQueue = maxQueue;
    this.handoff = Math.min(slots, maxQueue);
  }

  /** Requests holding a sequence. */
  get active(): number {
    return Math.min(this.#granted, this.slots);
  }

  /** Requests waiting for a sequence (here, or handed off to the engine's queue). */
  get queued(): number {
    return this.#waiting.length + Math.max(0, this.#granted - this.slots);
  }

  /**
   * Resolves with a `release` function once a slot is free (call it exactly once, when the
   * engine work is over). Throws 503 when the queue is full; rejects with `signal`'s reason if
   * the client goes away while waiting (its place in the queue is given up).
   */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#closedWith !== undefined) return Promise.reject(this.#closedWith);
    if (this.#granted < this.slots + this.handoff && this.#waiting.length === 0) return Promise.resolve(this.#take());
    if (this.queued >= this.maxQueue) {
      return Promise.reject(
        new HttpError(503, `The server is busy: ${this.active} requests running and ${this.queued} waiting`, {
          code: 'queue_full',
          headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        this.#notifyIdle();
        reject(signal.reason);
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
        fail: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Refuses new requests and fails every waiting one with `error` (shutdown); running ones keep their slots. */
  close(error: unknown): void {
    this.#closedWith = error;
    for (const waiter of this.#waiting.splice(0)) waiter.fail(error);
    this.#notifyIdle();
  }

  /** Resolves when no request is running or waiting. */
  idle(): Promise<void> {
    if (this.#granted === 0 && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #take(): () => void {
    this.#granted++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#granted--;
      const next = this.#waiting.shift();
      if (next !== undefined) next.grant(this.#take());
      else this.#notifyIdle();
    };
  }

  #notifyIdle(): void {
    if (this.#granted !== 0 || this.#waiting.length !== 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
