/**
 * Parallel ranged download of one large file, like hf_transfer: the bytes still missing are
 * cut into one part per connection, each fetched with its own `Range` request and written at
 * its offset in the same .incomplete file. A part that fails is retried from where it stopped;
 * the whole file is hashed afterwards (download.ts).
 *
 * Until it finishes, a marker file `<incomplete>.parallel` holds the offset the parallel phase
 * started from: the file may have holes after it. A failure truncates the file to its whole
 * prefix and removes the marker; after a crash, the next run truncates to the marker's offset.
 * @internal
 */
import { open, rm, truncate, writeFile } from 'node:fs/promises';
import { LlamaError } from '../errors.js';
import { contentRangeStart, writeAt, type BlobDownloadOptions, type BlobSource } from './download.js';
import { abortError, hubRequest, throwIfTransient, TransientError } from './http.js';
import { withRetries } from './retry.js';

/** Smallest part worth its own connection. */
const MIN_PART = 1 << 20;

/** Path of the marker that says the .incomplete may have holes after the offset it holds. */
export function markerPath(incompletePath: string): string {
  return `${incompletePath}.parallel`;
}

interface Part {
  start: number;
  end: number; // exclusive
  written: number;
}

/** Raised inside a part when the server ignores Range: the caller falls back to one stream. */
class NoRangeSupport extends Error {}

/**
 * Fetches bytes [start, size) of `source` into `path` in parallel parts.
 * @returns false when the server does not answer ranges (nothing was written)
 */
export async function downloadParts(source: BlobSource, path: string, start: number, options: BlobDownloadOptions): Promise<boolean> {
  const count = Math.max(1, Math.min(options.connections, Math.floor((source.size - start) / MIN_PART)));
  const partSize = Math.ceil((source.size - start) / count);
  const parts: Part[] = [];
  for (let at = start; at < source.size; at += partSize) parts.push({ start: at, end: Math.min(at + partSize, source.size), written: 0 });

  await writeFile(markerPath(path), String(start));
  const file = await open(path, 'a').then(async (handle) => (await handle.close(), open(path, 'r+')));
  // One failing part stops the others at once; the user's abort stops all of them too.
  const stop = new AbortController();
  const userSignal = options.retry.signal;
  const onUserAbort = () => stop.abort(userSignal?.reason);
  userSignal?.addEventListener('abort', onUserAbort, { once: true });
  const report = () => options.onBytes(start + parts.reduce((sum, part) => sum + part.written, 0));

  const runPart = async (part: Part): Promise<void> => {
    await withRetries(`Downloading ${source.label} (bytes ${part.start}-${part.end - 1})`, { ...options.retry, signal: stop.signal }, async () => {
      const from = part.start + part.written;
      if (from >= part.end) return;
      const response = await hubRequest(source.url, source.auth, { headers: { Range: `bytes=${from}-${part.end - 1}` }, signal: stop.signal, followRedirects: 'all' });
      throwIfTransient(response);
      if (response.status === 200) {
        response.body.destroy();
        throw new NoRangeSupport();
      }
      if (response.status !== 206 || contentRangeStart(response.headers['content-range']) !== from) {
        response.body.resume();
        if (response.status === 206) throw new TransientError(`${source.url.host} answered another range than bytes=${from}-`);
        throw new LlamaError('ERR_DOWNLOAD', `Downloading ${source.label}: ${source.url.host} answered HTTP ${response.status}`);
      }
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        const position = part.start + part.written;
        const room = part.end - position;
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
        await writeAt(file, piece, position, source, path);
        part.written += piece.length;
        report();
        if (piece.length < chunk.length) break; // the server sent more than asked: ignore the excess
      }
      if (part.start + part.written < part.end) throw new TransientError(`the connection closed after ${part.written} of ${part.end - part.start} bytes of a part`);
    });
  };

  const results = await Promise.allSettled(parts.map((part) => runPart(part).catch((error) => {
    stop.abort(error);
    throw error;
  })));
  userSignal?.removeEventListener('abort', onUserAbort);
  await file.close();

  const failure = firstFailure(results);
  if (failure === undefined) {
    await rm(markerPath(path), { force: true });
    return true;
  }
  if (failure instanceof NoRangeSupport) {
    await truncate(path, start);
    await rm(markerPath(path), { force: true });
    return false;
  }
  // Keep what is whole for a later resume (a single stream continues from there).
  await truncate(path, wholePrefix(parts));
  await rm(markerPath(path), { force: true });
  throw userSignal?.aborted ? abortError(userSignal) : failure;
}

/** The root cause among the parts' results: not the "aborted" that the others got because of it. */
function firstFailure(results: PromiseSettledResult<void>[]): unknown {
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
  return errors.find((e) => !(e instanceof LlamaError && e.code === 'ERR_ABORTED')) ?? errors[0];
}

/** Bytes from the start of the file that are all present: up to the first part with a gap. */
function wholePrefix(parts: Part[]): number {
  for (const part of parts) if (part.written < part.end - part.start) return part.start + part.written;
  return parts.at(-1)?.end ?? 0;
}
