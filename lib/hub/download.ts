/**
 * Downloads one blob into `<final>.incomplete` and moves it to its final name only once its
 * size and hash are verified, so that no half file ever sits under the final name.
 *
 * An existing .incomplete (ours or huggingface_hub's) is resumed with `Range: bytes=N-`, after
 * hashing the bytes already there; a server that answers 200 instead of 206 makes us start
 * over. Transient failures are retried from what arrived. Large files go through parallel
 * ranged parts (parallel.ts).
 * @internal
 */
import type { Hash } from 'node:crypto';
import { mkdir, open, rename, rm, stat, statfs, truncate, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LlamaError } from '../errors.js';
import { hubRequest, TransientError, throwIfTransient, type HubAuth } from './http.js';
import { downloadParts, markerPath } from './parallel.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { hubTuning } from './tuning.js';
import { blobHasher, hashFilePrefix, isContentHash } from './verify.js';

/** Where a blob comes from and what it must be. */
export interface BlobSource {
  /** URL that serves the bytes (the storage host's for LFS files). */
  url: URL;
  auth: HubAuth;
  /** Expected size in bytes. */
  size: number;
  /** sha256 (LFS) or git blob id; the bytes are checked against it. */
  etag: string;
  /** The file's path in the repository, for messages. */
  label: string;
}

export interface BlobDownloadOptions {
  retry: RetryPolicy;
  /** Connections for one large file (1 = a single stream). */
  connections: number;
  /** Files at least this large (bytes still to fetch) use parallel parts. */
  parallelThreshold: number;
  /** Called with the bytes present so far (throttling is the caller's). */
  onBytes: (present: number) => void;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** The ERR_DOWNLOAD of a full disk, saying how much room is missing. */
export function diskFullError(label: string, dir: string, needed: number, total: number, cause?: unknown): LlamaError {
  return new LlamaError('ERR_DOWNLOAD', `Not enough disk space for ${label} in ${dir}: ${needed} more bytes are needed (the file is ${total} bytes)`, { cause });
}

/** Fails early when the filesystem cannot hold what is still to come. */
async function checkFreeSpace(source: BlobSource, dir: string, needed: number): Promise<void> {
  if (needed <= 0) return;
  let free: number;
  try {
    if (hubTuning.freeBytes) free = await hubTuning.freeBytes(dir);
    else {
      const fs = await statfs(dir);
      free = Number(fs.bavail) * Number(fs.bsize);
    }
  } catch {
    return; // statfs unsupported here: ENOSPC while writing still says it
  }
  if (free < needed) throw diskFullError(source.label, dir, needed, source.size);
}

/** Downloads, verifies and moves `source` to `finalPath` (through `incompletePath`). */
export async function downloadBlob(source: BlobSource, incompletePath: string, finalPath: string, options: BlobDownloadOptions): Promise<void> {
  await mkdir(dirname(incompletePath), { recursive: true });
  await (await open(incompletePath, 'a')).close(); // exists from now on, even for an empty file
  await recoverFromInterruptedParts(incompletePath);
  let present = await sizeOf(incompletePath);
  if (present > source.size) {
    await truncate(incompletePath, 0);
    present = 0;
  }
  await checkFreeSpace(source, dirname(incompletePath), source.size - present);

  let hash: Hash | undefined;
  const remaining = source.size - present;
  if (options.connections > 1 && remaining >= options.parallelThreshold) {
    const ranged = await downloadParts(source, incompletePath, present, options);
    if (!ranged) hash = await downloadStream(source, incompletePath, options, 0); // no Range support: one stream from 0
  } else {
    hash = await downloadStream(source, incompletePath, options, present);
  }
  if (hash === undefined) {
    hash = blobHasher(source.etag, source.size);
    await hashFilePrefix(incompletePath, source.size, hash);
  }
  const actual = hash.digest('hex');
  const size = await sizeOf(incompletePath);
  if ((isContentHash(source.etag) && actual !== source.etag) || size !== source.size) {
    await rm(incompletePath, { force: true });
    throw new LlamaError(
      'ERR_INTEGRITY',
      `${source.label} failed verification: expected ${source.size} bytes hashing to ${source.etag}, got ${size} bytes hashing to ${actual}; the download was deleted (try again)`,
    );
  }
  await rename(incompletePath, finalPath);
}

/** A crash during a parallel download leaves holes: keep only the prefix known to be whole. */
async function recoverFromInterruptedParts(incompletePath: string): Promise<void> {
  let prefix: number;
  try {
    prefix = Number((await readFile(markerPath(incompletePath), 'utf8')).trim());
  } catch {
    return;
  }
  if (await sizeOf(incompletePath) > 0) await truncate(incompletePath, Number.isSafeInteger(prefix) && prefix >= 0 ? prefix : 0);
  await rm(markerPath(incompletePath), { force: true });
}

/**
 * One stream from `start` (resumed with Range), hashing as it writes. Returns the hash of
 * the whole file. Retries resume from the last byte written.
 */
async function downloadStream(source: BlobSource, path: string, options: BlobDownloadOptions, start: number): Promise<Hash> {
  let hash = blobHasher(source.etag, source.size);
  let position = start;
  // Bytes already there (a resume) are hashed first: the check covers the whole file.
  await hashFilePrefix(path, start, hash);
  await withRetries(`Downloading ${source.label}`, options.retry, async () => {
    if (position >= source.size) return;
    const headers: Record<string, string> = position > 0 ? { Range: `bytes=${position}-` } : {};
    const response = await hubRequest(source.url, source.auth, { headers, signal: options.retry.signal, followRedirects: 'all' });
    throwIfTransient(response);
    const rangeStart = contentRangeStart(response.headers['content-range']);
    if (response.status === 200) {
      // The server ignored the Range and sent the whole file: start over rather than splice.
      hash = blobHasher(source.etag, source.size);
      position = 0;
    } else if (response.status === 206 && rangeStart !== position) {
      response.body.resume();
      throw new TransientError(`${source.url.host} answered a range starting at ${rangeStart}, not ${position}`);
    } else if (response.status !== 206) {
      response.body.resume();
      throw new LlamaError('ERR_DOWNLOAD', `Downloading ${source.label}: ${source.url.host} answered HTTP ${response.status}`);
    }
    const file = await open(path, position === 0 ? 'w' : 'r+');
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (position + chunk.length > source.size) {
          response.body.destroy();
          throw new LlamaError('ERR_INTEGRITY', `${source.label}: the server sent more than the expected ${source.size} bytes`);
        }
        await writeAt(file, chunk, position, source, path);
        hash.update(chunk);
        position += chunk.length;
        options.onBytes(position);
      }
    } finally {
      await file.close();
    }
    if (position < source.size) throw new TransientError(`the connection closed after ${position} of ${source.size} bytes`);
  });
  return hash;
}

/** Writes a chunk at `position`, turning a full disk into an error that says how much is missing. */
export async function writeAt(file: import('node:fs/promises').FileHandle, chunk: Buffer, position: number, source: BlobSource, path: string): Promise<void> {
  try {
    await file.write(chunk, 0, chunk.length, position);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw diskFullError(source.label, dirname(path), source.size - position, source.size, error);
    throw error;
  }
}

/** The first byte of a `Content-Range: bytes a-b/n` header, or undefined. */
export function contentRangeStart(header: string | undefined): number | undefined {
  const match = header === undefined ? null : /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header.trim());
  return match ? Number(match[1]) : undefined;
}
