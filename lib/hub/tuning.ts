/**
 * Timings of the hub client that users have no reason to change but tests do (to keep a test
 * of a stale lock or a slow socket short). Plain mutable values, read at use.
 * @internal
 */
export const hubTuning = {
  /** How often a process waiting for another's download checks the lock. */
  lockPollMs: 200,
  /** How often a lock holder touches its lock to show it is alive. */
  lockHeartbeatMs: 5_000,
  /** A lock untouched for this long belongs to a dead or hung process and is taken over. */
  lockStaleMs: 60_000,
  /** A connection silent for this long is given up (and retried). */
  socketTimeoutMs: 30_000,
  /** Longest wait a server's Retry-After can impose before the next attempt. */
  maxRetryAfterMs: 60_000,
  /** Least interval between two progress reports of one file. */
  progressIntervalMs: 100,
  /** Free bytes on the filesystem of `dir` (replaceable to test a full disk). */
  freeBytes: undefined as ((dir: string) => Promise<number>) | undefined,
};
