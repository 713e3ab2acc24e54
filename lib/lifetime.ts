/**
 * Small lifetime helpers shared by Model and Context: the FIFO job queue, the "internal
 * constructor" token and a no-op used to mark promises as handled.
 * @internal
 */

/** Does nothing; attached as a rejection handler so an unobserved promise is not "unhandled". */
export function noop(): void {}

/**
 * Passed to constructors that users must not call (`new Model()` without a native model would
 * be a broken object). Not exported from the package.
 */
export const INTERNAL: unique symbol = Symbol('llama-napi.internal');

/** Throws if a public class's constructor is called from outside the library. */
export function assertInternal(token: unknown, className: string): void {
  if (token !== INTERNAL) {
    throw new TypeError(`${className} cannot be constructed directly; use loadModel() / model.createContext()`);
  }
}

/**
 * Runs async jobs one at a time, in the order they were queued.
 *
 * A context has one llama.cpp sequence (for now), so its jobs must not overlap. A failing job
 * does not block the ones behind it. Holds no timers or handles: an idle queue never keeps
 * the process alive.
 */
export class JobQueue {
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
