/**
 * Retries with exponential backoff for what the network does to long downloads: dropped
 * connections, 5xx answers, 429s with a Retry-After. Everything else fails at once.
 * @internal
 */
import { LlamaError } from '../errors.js';
import { abortError, isTransientNetworkError, TransientError } from './http.js';

export interface RetryPolicy {
  /** Further attempts after the first. */
  retries: number;
  /** Delay before the first retry; doubled each time, capped at 30 s. */
  baseDelayMs: number;
  signal?: AbortSignal | undefined;
}

const MAX_DELAY_MS = 30_000;

/** Whether `error` is worth another attempt. */
export function isRetryable(error: unknown): boolean {
  return error instanceof TransientError || isTransientNetworkError(error);
}

/** Waits `ms`, or rejects with ERR_ABORTED as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, fails with a non-transient error, or the retries run out
 * (then ERR_DOWNLOAD naming `what` and the last cause). `attempt` is told its number, so that a
 * download can resume from what the previous attempt wrote.
 */
export async function withRetries<T>(what: string, policy: RetryPolicy, attempt: (attempt: number) => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (policy.signal?.aborted) throw abortError(policy.signal);
      if (!isRetryable(error)) throw error;
      if (n >= policy.retries) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new LlamaError('ERR_DOWNLOAD', `${what} failed after ${n + 1} attempts: ${reason}`, { cause: error });
      }
      const backoff = Math.min(policy.baseDelayMs * 2 ** n, MAX_DELAY_MS);
      const serverAsked = error instanceof TransientError ? error.retryAfterMs : undefined;
      await sleep(serverAsked ?? backoff, policy.signal);
    }
  }
}
