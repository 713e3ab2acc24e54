/**
 * pullModel() and resolveModel(): from a model reference to local file paths, through the
 * shared Hugging Face cache (or a local folder), downloading only what is missing.
 */
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { captureCallerStack, LlamaError, withCallerStack } from '../errors.js';
import { log } from '../logger.js';
import { argRangeError } from '../validate.js';
import { EntryNotFound, HubApi, type FileMetadata } from './api.js';
import { COMMIT_HASH, RepoCache } from './cache.js';
import { downloadBlob } from './download.js';
import { abortError } from './http.js';
import { resolveLocal } from './local.js';
import { LocalDirFile } from './local-dir.js';
import { acquireLock, blobLockPath } from './lock.js';
import { pullSettings, type PullModelOptions, type PullSettings, type ResolveModelOptions } from './options.js';
import { progressReporter, type ProgressReporter } from './progress.js';
import { parseModelRef } from './ref.js';
import { isRetryable } from './retry.js';
import { availableQuants, describeModelFiles, namedFiles, selectFiles, type FileRequest } from './select.js';
import { blobHasher, hashFilePrefix } from './verify.js';

/**
 * Downloads a model's files from the Hugging Face hub (or finds them already present) and
 * returns their local paths, in order (all parts of a split GGUF).
 *
 * ```js
 * const [path] = await pullModel('hf:TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF:Q4_K_M');
 * ```
 *
 * Files land in the Hugging Face cache shared with Python's huggingface_hub (or in `localDir`).
 * Downloads resume, are verified against the hub's sha256, and use parallel connections for
 * large files.
 *
 * @param ref - `org/repo` (with `include`), `org/repo:Q4_K_M`, `org/repo/path/file.gguf`, or the same with `hf:`
 * @param options - see {@link PullModelOptions}
 * @returns the local path of each file
 * @throws LlamaError `ERR_NOT_FOUND` (no such repository, file or quantisation; offline and not cached),
 *   `ERR_ACCESS_DENIED` (gated or private), `ERR_INTEGRITY` (hash mismatch), `ERR_DOWNLOAD`, `ERR_ABORTED`
 */
export async function pullModel(ref: string, options?: PullModelOptions): Promise<string[]> {
  // A download error surfaces from a socket callback; give it the frames of the code that asked.
  const callerStack = captureCallerStack(pullModel);
  try {
    return await pull(ref, options);
  } catch (error) {
    throw error instanceof LlamaError ? withCallerStack(error, callerStack) : error;
  }
}

async function pull(ref: string, options: PullModelOptions | undefined): Promise<string[]> {
  const { ref: text, settings } = pullSettings(ref, options);
  const { repo, request } = fileRequest(text, settings);
  if (settings.signal?.aborted) throw abortError(settings.signal);
  if (settings.offline) return resolveLocal(repo, request, settings, 'offline').map((file) => file.path);

  const api = new HubApi(settings.endpoint, settings.token, { retries: settings.retries, baseDelayMs: settings.retryDelayMs, signal: settings.signal });
  let files = namedFiles(request);
  let listedCommit: string | undefined;
  if (files === undefined && request.include === undefined && settings.localDir === undefined && COMMIT_HASH.test(settings.revision)) {
    // A commit never changes: a quantisation already in its snapshot needs no request.
    const local = tryResolveLocal(repo, request, settings);
    if (local) return local;
  }
  if (files === undefined) {
    let listing;
    try {
      listing = await api.listFiles(repo, settings.revision);
    } catch (error) {
      return fallBackToLocal(error, repo, request, settings);
    }
    listedCommit = listing.commit;
    files = selectFiles(listing.files, request, `${repo} at revision ${settings.revision}`);
  }
  const progress = progressReporter(settings.onProgress, repo, files.length);
  const paths: string[] = [];
  for (const [index, file] of files.entries()) {
    const job: FileJob = { api, repo, file, index, settings, progress, commit: listedCommit ?? (COMMIT_HASH.test(settings.revision) ? settings.revision : undefined) };
    try {
      paths.push(settings.localDir === undefined ? await pullToCache(job) : await pullToLocalDir(job, settings.localDir));
    } catch (error) {
      if (error instanceof EntryNotFound) throw await entryNotFound(api, repo, settings.revision, file);
      if (index === 0 && paths.length === 0) return fallBackToLocal(error, repo, request, settings);
      throw error;
    }
  }
  return paths;
}

/**
 * The local paths of a model's files already downloaded (by {@link pullModel} or by Python's
 * huggingface_hub), in order. Never touches the network.
 *
 * @param ref - as for {@link pullModel}
 * @param options - see {@link ResolveModelOptions}
 * @throws LlamaError `ERR_NOT_FOUND` naming what is not present
 */
export async function resolveModel(ref: string, options?: ResolveModelOptions): Promise<string[]> {
  const { ref: text, settings } = pullSettings(ref, options, true);
  const { repo, request } = fileRequest(text, settings);
  return resolveLocal(repo, request, settings, 'resolve').map((file) => file.path);
}

function fileRequest(text: string, settings: PullSettings): { repo: string; request: FileRequest } {
  const parsed = parseModelRef(text);
  if (settings.include !== undefined && (parsed.file !== undefined || parsed.quant !== undefined)) {
    throw argRangeError(`Invalid option "include": the reference "${text}" already names ${parsed.file ?? parsed.quant}; give either one`);
  }
  const request: FileRequest = {};
  if (parsed.file !== undefined) request.file = parsed.file;
  if (parsed.quant !== undefined) request.quant = parsed.quant;
  if (settings.include !== undefined) request.include = settings.include;
  return { repo: parsed.repo, request };
}

function tryResolveLocal(repo: string, request: FileRequest, settings: PullSettings): string[] | undefined {
  try {
    return resolveLocal(repo, request, settings, 'resolve').map((file) => file.path);
  } catch {
    return undefined;
  }
}

/** When the hub cannot be reached (after retries), files already present still answer. */
function fallBackToLocal(error: unknown, repo: string, request: FileRequest, settings: PullSettings): string[] {
  const unreachable = error instanceof LlamaError && error.code === 'ERR_DOWNLOAD' && isRetryable(error.cause);
  if (!unreachable) throw error;
  try {
    const local = resolveLocal(repo, request, settings, 'unreachable').map((file) => file.path);
    log('warn', `${settings.endpoint} could not be reached (${error.message}); using the files of ${repo} already present`);
    return local;
  } catch {
    throw error; // nothing local either: the network error is the one to report
  }
}

interface FileJob {
  api: HubApi;
  repo: string;
  file: string;
  index: number;
  settings: PullSettings;
  progress: ProgressReporter;
  /** The commit, when known without asking (a listing, or a revision that is a hash). */
  commit: string | undefined;
}

function downloadOptions(job: FileJob, onBytes: (present: number) => void) {
  const { settings } = job;
  return { retry: job.api.retry, connections: settings.connections, parallelThreshold: settings.parallelThreshold, onBytes };
}

function blobSource(job: FileJob, meta: FileMetadata) {
  return { url: meta.location, auth: job.api.auth, size: meta.size, etag: meta.etag, label: `${job.repo}/${job.file}` };
}

/** One file into the cache: snapshot link → blob, downloaded under a lock if missing. */
async function pullToCache(job: FileJob): Promise<string> {
  const cache = new RepoCache(job.settings.cacheDir, job.repo);
  const known = job.commit && cache.cachedFile(job.commit, job.file);
  if (known) return reportCached(job, known);

  const meta = await job.api.fileMetadata(job.repo, job.settings.revision, job.file);
  await cache.writeRef(job.settings.revision, meta.commit);
  const present = cache.cachedFile(meta.commit, job.file);
  if (present) return reportCached(job, present);

  const blob = cache.blobPath(meta.etag);
  if (existsSync(blob)) {
    job.progress.cached(job.index, job.file, meta.size);
  } else {
    // Another process may be fetching the same blob: wait for it rather than fetch it twice.
    const onBytes = job.progress.downloading(job.index, job.file, meta.size);
    const lock = await acquireLock(blobLockPath(cache.locks, meta.etag), () => existsSync(blob), job.settings.signal);
    try {
      if (!existsSync(blob)) await downloadBlob(blobSource(job, meta), cache.incompletePath(meta.etag), blob, downloadOptions(job, onBytes));
    } finally {
      await lock?.release();
    }
    onBytes(meta.size); // the end, also when another process did the download
  }
  return cache.linkSnapshot(meta.commit, job.file, meta.etag);
}

function reportCached(job: FileJob, path: string): string {
  job.progress.cached(job.index, job.file, statSize(path));
  return path;
}

function statSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** One file into `localDir`, skipped when its metadata (or its own sha256) says it is current. */
async function pullToLocalDir(job: FileJob, localDir: string): Promise<string> {
  const local = new LocalDirFile(localDir, job.file);
  const recorded = local.readMetadata();
  if (recorded && job.commit !== undefined && recorded.commit === job.commit) return reportCached(job, local.filePath);

  const meta = await job.api.fileMetadata(job.repo, job.settings.revision, job.file);
  const current = () => local.readMetadata()?.etag === meta.etag;
  if (current() || (local.exists() && (await fileMatches(local.filePath, meta)))) {
    await local.writeMetadata(meta.commit, meta.etag); // refreshes commit and time, as huggingface_hub does
    return reportCached(job, local.filePath);
  }
  const onBytes = job.progress.downloading(job.index, job.file, meta.size);
  const lock = await acquireLock(local.lockPath(), current, job.settings.signal);
  try {
    if (!current()) {
      await mkdir(dirname(local.filePath), { recursive: true });
      const cachedBlob = new RepoCache(job.settings.cacheDir, job.repo).blobPath(meta.etag);
      if (existsSync(cachedBlob)) {
        // Already in the shared cache: a copy, not a download.
        const incomplete = local.incompletePath(meta.etag);
        await mkdir(dirname(incomplete), { recursive: true });
        await copyFile(cachedBlob, incomplete);
        await rename(incomplete, local.filePath);
      } else {
        await downloadBlob(blobSource(job, meta), local.incompletePath(meta.etag), local.filePath, downloadOptions(job, onBytes));
      }
      await local.writeMetadata(meta.commit, meta.etag);
    }
  } finally {
    await lock?.release();
  }
  onBytes(meta.size);
  return local.filePath;
}

/** Whether a file already in the local folder has the hub's size and hash (LFS files only: cheap enough to trust). */
async function fileMatches(path: string, meta: FileMetadata): Promise<boolean> {
  if (meta.etag.length !== 64 || statSize(path) !== meta.size) return false;
  const hash = blobHasher(meta.etag, meta.size);
  await hashFilePrefix(path, meta.size, hash);
  return hash.digest('hex') === meta.etag;
}

/** ERR_NOT_FOUND for a missing file, listing the GGUF files and quantisations that do exist. */
async function entryNotFound(api: HubApi, repo: string, revision: string, file: string): Promise<LlamaError> {
  let listing: string[];
  try {
    listing = (await api.listFiles(repo, revision)).files;
  } catch (error) {
    if (error instanceof LlamaError && error.code === 'ERR_NOT_FOUND') return error; // the repository itself is missing
    return new LlamaError('ERR_NOT_FOUND', `${file} was not found in ${repo} at revision ${revision}.`, { cause: error });
  }
  const quants = availableQuants(listing);
  const quantNote = quants.length > 0 ? ` Quantisations: ${quants.join(', ')} (ask for one as "${repo}:${quants[0]}").` : '';
  return new LlamaError('ERR_NOT_FOUND', `${file} was not found in ${repo} at revision ${revision}. ${describeModelFiles(listing)}.${quantNote}`);
}
