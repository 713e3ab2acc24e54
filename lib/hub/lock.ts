/**
 * A lock file so that two processes pulling one file download it once: the first creates the
 * lock (exclusive create), the others wait, then find the finished blob.
 *
 * Python's huggingface_hub locks `<etag>.lock` with flock(2), which Node cannot take; a file of
 * that name is also left behind after every Python download. So our lock sits beside it, as
 * `<etag>.llama-napi.lock`, holding the holder's pid, host and a random token: a leftover of
 * either tool never blocks the other. A lock whose holder is dead (same host, pid gone) or
 * whose heartbeat stopped (mtime older than `hubTuning.lockStaleMs`) is taken over.
 * @internal
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { sleep } from './retry.js';
import { hubTuning } from './tuning.js';

/** A held lock; `release()` is idempotent. */
export interface HeldLock {
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  host: string;
  token: string;
}

/** The lock file path of a blob: huggingface_hub's `.locks` folder, our own file name. */
export function blobLockPath(locksDir: string, etag: string): string {
  return `${locksDir}/${etag}.llama-napi.lock`;
}

/**
 * Takes the lock at `path`, waiting while another live process holds it. Returns undefined
 * without locking if `isDone()` becomes true while waiting (the other process finished the
 * work). Rejects with ERR_ABORTED when `signal` aborts.
 */
export async function acquireLock(path: string, isDone: () => boolean, signal?: AbortSignal): Promise<HeldLock | undefined> {
  await mkdir(dirname(path), { recursive: true });
  const me: Holder = { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') };
  for (;;) {
    if (await tryCreate(path, me)) return holdLock(path, me);
    if (isDone()) return undefined;
    const holder = await readHolder(path);
    if (await isStale(path, holder)) await takeOver(path, holder);
    else await sleep(hubTuning.lockPollMs, signal);
  }
}

async function tryCreate(path: string, me: Holder): Promise<boolean> {
  try {
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(JSON.stringify(me));
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const holder = JSON.parse(await readFile(path, 'utf8')) as Partial<Holder>;
    return typeof holder.pid === 'number' && typeof holder.host === 'string' && typeof holder.token === 'string' ? (holder as Holder) : undefined;
  } catch {
    return undefined; // gone, or just created and not yet written: judged by its age alone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

async function isStale(path: string, holder: Holder | undefined): Promise<boolean> {
  if (holder && holder.host === hostname() && !isAlive(holder.pid)) return true;
  try {
    return Date.now() - (await stat(path)).mtimeMs > hubTuning.lockStaleMs;
  } catch {
    return false; // released meanwhile: the next create attempt will tell
  }
}

/**
 * Removes a stale lock without removing a fresh one another waiter created meanwhile: move it
 * aside, check it is the one judged stale, and put it back (without overwriting) if it is not.
 */
async function takeOver(path: string, stale: Holder | undefined): Promise<void> {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch {
    return; // someone else moved or released it
  }
  const moved = await readHolder(aside);
  if (stale !== undefined && moved !== undefined && moved.token !== stale.token) {
    await link(aside, path).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

function holdLock(path: string, me: Holder): HeldLock {
  // The heartbeat shows waiters on other hosts (a shared cache) that the holder lives.
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, hubTuning.lockHeartbeatMs);
  heartbeat.unref();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      // Only our own lock: if it was taken over (we looked dead), the new holder's stays.
      if ((await readHolder(path))?.token === me.token) await unlink(path).catch(() => undefined);
    },
  };
}
