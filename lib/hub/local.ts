/**
 * Answers from local files alone: resolveModel(), offline mode (HF_HUB_OFFLINE), and the
 * fallback when the hub cannot be reached. Never touches the network.
 * @internal
 */
import { statSync } from 'node:fs';
import { LlamaError } from '../errors.js';
import { listFiles, RepoCache } from './cache.js';
import { LocalDirFile } from './local-dir.js';
import type { PullSettings } from './options.js';
import { selectFiles, type FileRequest } from './select.js';

/** Why only local files are consulted, for messages. */
export type LocalReason = 'resolve' | 'offline' | 'unreachable';

const WHY: Record<LocalReason, string> = {
  resolve: 'resolveModel() only looks at local files; download it with pullModel()',
  offline: 'offline mode is on (HF_HUB_OFFLINE or the "offline" option), so nothing can be downloaded',
  unreachable: 'the hub could not be reached',
};

function sizeOf(path: string): number {
  return statSync(path).size;
}

/**
 * The local paths of the requested files, in order, with their sizes.
 * @throws LlamaError ERR_NOT_FOUND naming what is missing and why nothing was downloaded
 */
export function resolveLocal(repo: string, request: FileRequest, settings: PullSettings, reason: LocalReason): { path: string; file: string; size: number }[] {
  const { revision, localDir } = settings;
  const where = `${repo} at revision ${revision}`;
  const notFound = (what: string) => new LlamaError('ERR_NOT_FOUND', `${what}; ${WHY[reason]}.`);
  const select = (listing: string[], place: string) => {
    try {
      return selectFiles(listing, request, where);
    } catch (error) {
      if (error instanceof LlamaError) throw notFound(`${error.message.replace(/\.$/, '')} (looked in ${place})`);
      throw error;
    }
  };

  if (localDir !== undefined) {
    const present = (() => {
      try {
        return listFiles(localDir);
      } catch {
        return [];
      }
    })();
    const files = select(present, localDir);
    const missing = files.filter((file) => !new LocalDirFile(localDir, file).exists());
    if (missing.length > 0) throw notFound(`${missing.join(', ')} of ${repo} not found in ${localDir}`);
    return files.map((file) => {
      const path = new LocalDirFile(localDir, file).filePath;
      return { path, file, size: sizeOf(path) };
    });
  }

  const cache = new RepoCache(settings.cacheDir, repo);
  const commit = cache.commitFor(revision);
  if (commit === undefined) throw notFound(`${where} is not in the cache (${settings.cacheDir})`);
  const files = select(cache.snapshotFiles(commit), `the cache, ${settings.cacheDir}`);
  const missing = files.filter((file) => cache.cachedFile(commit, file) === undefined);
  if (missing.length > 0) throw notFound(`${missing.join(', ')} of ${where} not found in the cache (${settings.cacheDir})`);
  return files.map((file) => {
    const path = cache.snapshotPath(commit, file);
    return { path, file, size: sizeOf(path) };
  });
}
