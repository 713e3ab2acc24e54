/**
 * What the bytes of a blob must hash to. The hub names every file by a hash: the sha256 of an
 * LFS file (its `X-Linked-Etag`), or the git blob id (sha1 of "blob <size>\0" + content) of a
 * small file (its `ETag`). Either way the downloaded bytes can be checked.
 * @internal
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * An etag the cache may use as a file name. The hub's are a 64-hex sha256 or a 40-hex git blob
 * id; a mirror may send something else, which is accepted (as huggingface_hub does) when it is a
 * plain name, and then only the size can be checked.
 */
export const ETAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Whether the etag is a hash of the content that the bytes can be checked against. */
export function isContentHash(etag: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(etag);
}

/** A running hash of a blob, ready for its bytes in order. */
export function blobHasher(etag: string, size: number): Hash {
  if (etag.length === 64) return createHash('sha256');
  const git = createHash('sha1');
  git.update(`blob ${size}\0`);
  return git;
}

/** Feeds bytes [0, end) of `path` to `hash`. */
export async function hashFilePrefix(path: string, end: number, hash: Hash): Promise<void> {
  if (end <= 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: end - 1, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}
