/**
 * `localDir`: real files in a folder of the user's choice, with the bookkeeping
 * `huggingface-cli download --local-dir` keeps, so that either tool skips what the other fetched:
 *
 *     <localDir>/<path>                                              the file
 *     <localDir>/.cache/huggingface/download/<path>.metadata         commit hash, etag, unix time (3 lines)
 *     <localDir>/.cache/huggingface/download/<path>.<etag>.incomplete   the download in progress
 * @internal
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** What the metadata file records about a file in the local folder. */
export interface LocalMetadata {
  commit: string;
  etag: string;
  /** Unix time in seconds (a float) when the file was known to match `etag`. */
  timestamp: number;
}

/** The paths of one repository file in a local folder. */
export class LocalDirFile {
  readonly filePath: string;
  readonly metadataPath: string;

  constructor(readonly localDir: string, readonly path: string) {
    const segments = path.split('/');
    this.filePath = join(localDir, ...segments);
    this.metadataPath = `${join(localDir, '.cache', 'huggingface', 'download', ...segments)}.metadata`;
  }

  incompletePath(etag: string): string {
    return `${this.metadataPath.slice(0, -'.metadata'.length)}.${etag}.incomplete`;
  }

  /** Lock beside the metadata; see lock.ts for why it is not huggingface_hub's own name. */
  lockPath(): string {
    return `${this.metadataPath.slice(0, -'.metadata'.length)}.llama-napi.lock`;
  }

  /** Whether the file itself is there. */
  exists(): boolean {
    try {
      return statSync(this.filePath).isFile();
    } catch {
      return false;
    }
  }

  /**
   * The metadata, when it exists, parses, and the file has not been modified since it was
   * written (huggingface_hub's rule, with its one second of slack for coarse mtimes).
   */
  readMetadata(): LocalMetadata | undefined {
    if (!existsSync(this.metadataPath)) return undefined;
    try {
      const [commit, etag, time] = readFileSync(this.metadataPath, 'utf8').split('\n').map((line) => line.trim());
      const timestamp = Number(time);
      if (!commit || !etag || !Number.isFinite(timestamp)) return undefined;
      return statSync(this.filePath).mtimeMs / 1000 - 1 <= timestamp ? { commit, etag, timestamp } : undefined;
    } catch {
      return undefined; // unreadable metadata or no file: as if never downloaded
    }
  }

  async writeMetadata(commit: string, etag: string): Promise<void> {
    await mkdir(dirname(this.metadataPath), { recursive: true });
    await ensureGitignore(this.localDir);
    // A float like Python's time.time(), so huggingface_hub parses it back.
    const now = Date.now() / 1000;
    await writeFile(this.metadataPath, `${commit}\n${etag}\n${Number.isInteger(now) ? now.toFixed(1) : now}\n`);
  }
}

/** huggingface_hub puts a `*` .gitignore in `.cache/huggingface` so the folder is never committed. */
async function ensureGitignore(localDir: string): Promise<void> {
  const path = join(localDir, '.cache', 'huggingface', '.gitignore');
  if (!existsSync(path)) await writeFile(path, '*', { flag: 'wx' }).catch(() => undefined);
}
