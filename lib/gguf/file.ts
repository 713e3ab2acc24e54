/**
 * Opening a path that must be a regular file, with the failure turned into a
 * {@link LlamaError} whose code says which way it failed.
 * @internal
 */
import type { Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { LlamaError } from '../errors.js';

/** What kind of thing a non-file path is, for the error message. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

function fsError(path: string, error: unknown): LlamaError {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new LlamaError('ERR_FILE_NOT_FOUND', `file '${path}' does not exist`, { cause: error });
  }
  if (code === 'EISDIR') {
    return new LlamaError('ERR_NOT_A_FILE', `'${path}' is a directory, not a file`, { cause: error });
  }
  // EACCES, EIO, ELOOP...: the path names something we cannot read as a file.
  const detail = error instanceof Error ? error.message : String(error);
  return new LlamaError('ERR_NOT_A_FILE', `'${path}' cannot be read as a file: ${detail}`, { cause: error });
}

/**
 * Opens `path` for reading after checking that it is a regular file.
 *
 * The check comes before `open()` because opening a FIFO blocks until a writer appears,
 * and devices such as `/dev/zero` never end; it is repeated on the handle so a path
 * swapped in between is still caught.
 *
 * @returns the handle and the file size at open time; the caller closes the handle
 * @internal
 */
export async function openRegularFile(path: string): Promise<{ fh: FileHandle; size: number }> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (error) {
    throw fsError(path, error);
  }
  if (!stats.isFile()) throw new LlamaError('ERR_NOT_A_FILE', `'${path}' is ${kindOf(stats)}, not a regular file`);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (error) {
    throw fsError(path, error);
  }
  try {
    const opened = await fh.stat();
    if (!opened.isFile()) throw new LlamaError('ERR_NOT_A_FILE', `'${path}' is ${kindOf(opened)}, not a regular file`);
    return { fh, size: opened.size };
  } catch (error) {
    await fh.close();
    throw error instanceof LlamaError ? error : fsError(path, error);
  }
}
