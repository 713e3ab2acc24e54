/**
 * The Hugging Face cache layout, shared with Python's huggingface_hub, so that a file either
 * tool fetched is found by the other:
 *
 *     <cache>/models--org--name/blobs/<etag>                  the bytes (etag: sha256 for LFS files, git blob id otherwise)
 *     <cache>/models--org--name/snapshots/<commit>/<path>     relative symlink to ../../blobs/<etag> (one more ../ per folder)
 *     <cache>/models--org--name/refs/<revision>               the commit a branch or tag pointed to, last time we asked
 *     <cache>/.locks/models--org--name/<etag>.…lock           see lock.ts
 * @internal
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

/** A 40-hex commit hash (a revision that needs no lookup). */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** The paths of one repository in the cache. */
export class RepoCache {
  /** `<cache>/models--org--name` */
  readonly root: string;
  /** `<cache>/.locks/models--org--name` */
  readonly locks: string;

  constructor(readonly cacheDir: string, readonly repo: string) {
    const folder = `models--${repo.split('/').join('--')}`;
    this.root = join(cacheDir, folder);
    this.locks = join(cacheDir, '.locks', folder);
  }

  blobPath(etag: string): string {
    return join(this.root, 'blobs', etag);
  }

  /** huggingface_hub's name for a blob being downloaded; it resumes from it, and so do we. */
  incompletePath(etag: string): string {
    return `${this.blobPath(etag)}.incomplete`;
  }

  snapshotPath(commit: string, path: string): string {
    return join(this.root, 'snapshots', commit, ...path.split('/'));
  }

  /** The commit `revision` stands for: itself when it is a hash, else what refs/ recorded. */
  commitFor(revision: string): string | undefined {
    if (COMMIT_HASH.test(revision)) return revision;
    try {
      const commit = readFileSync(join(this.root, 'refs', ...revision.split('/')), 'utf8').trim();
      return COMMIT_HASH.test(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records that `revision` points at `commit` (huggingface_hub writes the hash alone, no newline). */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const path = join(this.root, 'refs', ...revision.split('/'));
    if (this.commitFor(revision) === commit) return;
    await mkdir(dirname(path), { recursive: true });
    // Written aside and renamed, so a concurrent reader never sees a half-written hash.
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, commit);
    await rename(temp, path);
  }

  /** The snapshot file if it exists and its target is readable (a dangling link counts as absent). */
  cachedFile(commit: string, path: string): string | undefined {
    const snapshot = this.snapshotPath(commit, path);
    try {
      return statSync(snapshot).isFile() ? snapshot : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every file path of a snapshot, relative and with forward slashes (for globs and quants offline). */
  snapshotFiles(commit: string): string[] {
    const base = join(this.root, 'snapshots', commit);
    return existsSync(base) ? listFiles(base) : [];
  }

  /**
   * Points `snapshots/<commit>/<path>` at `blobs/<etag>` with a relative link (the cache stays
   * valid when moved or mounted elsewhere), replacing whatever was there.
   */
  async linkSnapshot(commit: string, path: string, etag: string): Promise<string> {
    const snapshot = this.snapshotPath(commit, path);
    const target = relative(dirname(snapshot), this.blobPath(etag));
    await mkdir(dirname(snapshot), { recursive: true });
    try {
      if ((await readlink(snapshot)) === target) return snapshot;
    } catch {
      // absent, or a real file: replaced below
    }
    // A link made aside and renamed over the old one: readers never see a missing path.
    const temp = `${snapshot}.${randomBytes(6).toString('hex')}.tmp`;
    await rm(temp, { force: true });
    try {
      await symlink(target, temp);
    } catch (error) {
      // No symlinks here (Windows without developer mode): a copy, as huggingface_hub falls back to.
      if (!['EPERM', 'EACCES', 'ENOTSUP', 'ENOSYS'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      await copyFile(this.blobPath(etag), temp);
    }
    await rename(temp, snapshot);
    return snapshot;
  }
}

/** Files under `dir`, relative, with forward slashes, skipping hidden bookkeeping folders. */
export function listFiles(dir: string, prefix = ''): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const relativePath = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (!(prefix === '' && entry.name === '.cache')) files.push(...listFiles(join(dir, entry.name), relativePath));
    } else if (!entry.name.endsWith('.tmp')) files.push(relativePath);
  }
  return files.sort();
}
