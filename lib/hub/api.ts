/**
 * The hub's HTTP API, the two calls we need: list a repository at a revision, and resolve one
 * file (HEAD on its `resolve` URL) to its commit, etag, size and download location. Every
 * answer is checked before use: it becomes paths and file names on disk.
 * @internal
 */
import { LlamaError } from '../errors.js';
import { hubRequest, readText, throwIfTransient, type HubAuth, type HubResponse } from './http.js';
import { isSafeRepoPath } from './ref.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { COMMIT_HASH } from './cache.js';
import { ETAG } from './verify.js';

/** What a HEAD on a file's resolve URL tells. */
export interface FileMetadata {
  commit: string;
  /** sha256 of an LFS file, git blob id otherwise: the blob's name in the cache. */
  etag: string;
  size: number;
  /** Where the bytes are served (the storage host for LFS files). */
  location: URL;
}

/** A repository listing at one commit. */
export interface RepoListing {
  commit: string;
  files: string[];
}

/** The file does not exist in a repository that does (the caller lists what does exist). */
export class EntryNotFound extends Error {}

/** A URL path segment list, each part encoded (revisions like `refs/pr/1` stay one segment). */
function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** huggingface_hub's normalisation: drop a weak-etag prefix and the quotes. */
export function normalizeEtag(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text?.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

export class HubApi {
  readonly auth: HubAuth;

  constructor(endpoint: string, token: string | undefined, readonly retry: RetryPolicy) {
    this.auth = { endpoint: new URL(endpoint), token };
  }

  get endpoint(): string {
    return this.auth.endpoint.href.replace(/\/+$/, '');
  }

  resolveUrl(repo: string, revision: string, path: string): URL {
    return new URL(`${this.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`);
  }

  /** HEAD on the file's resolve URL, following only relative redirects (a renamed repository). */
  async fileMetadata(repo: string, revision: string, path: string): Promise<FileMetadata> {
    const url = this.resolveUrl(repo, revision, path);
    return withRetries(`Resolving ${repo}/${path}`, this.retry, async () => {
      const response = await hubRequest(url, this.auth, { method: 'HEAD', signal: this.retry.signal, followRedirects: 'relative' });
      response.body.resume();
      throwIfTransient(response);
      if (response.status >= 400) throw this.errorFor(response, repo, revision, path);
      const headers = response.headers;
      const commit = String(headers['x-repo-commit'] ?? '');
      const etag = normalizeEtag(headers['x-linked-etag'] ?? headers['etag']) ?? '';
      const size = Number(headers['x-linked-size'] ?? headers['content-length']);
      const redirected = response.status >= 300 && response.status < 400 && headers.location !== undefined;
      if (!COMMIT_HASH.test(commit) || !ETAG.test(etag) || !Number.isSafeInteger(size) || size < 0) {
        throw new LlamaError('ERR_DOWNLOAD', `Unexpected answer from ${url.origin} for ${repo}/${path} (HTTP ${response.status}, commit ${JSON.stringify(commit)}, etag ${JSON.stringify(etag)}, size ${size}): is HF_ENDPOINT a Hugging Face hub?`);
      }
      return { commit, etag, size, location: redirected ? new URL(headers.location!, response.url) : response.url };
    });
  }

  /** The repository's commit at `revision` and the paths of all its files. */
  async listFiles(repo: string, revision: string): Promise<RepoListing> {
    const url = new URL(`${this.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`);
    return withRetries(`Listing ${repo}`, this.retry, async () => {
      const response = await hubRequest(url, this.auth, { signal: this.retry.signal, followRedirects: 'relative' });
      throwIfTransient(response);
      if (response.status >= 300) {
        response.body.resume();
        throw this.errorFor(response, repo, revision);
      }
      let info: { sha?: unknown; siblings?: unknown };
      try {
        info = JSON.parse(await readText(response)) as typeof info;
      } catch (error) {
        if (error instanceof LlamaError) throw error;
        throw new LlamaError('ERR_DOWNLOAD', `The listing of ${repo} from ${url.origin} is not JSON`, { cause: error });
      }
      const siblings = Array.isArray(info.siblings) ? info.siblings : undefined;
      if (typeof info.sha !== 'string' || !COMMIT_HASH.test(info.sha) || siblings === undefined) {
        throw new LlamaError('ERR_DOWNLOAD', `The listing of ${repo} from ${url.origin} has no commit hash or file list`);
      }
      const files = siblings
        .map((entry) => (entry as { rfilename?: unknown } | null)?.rfilename)
        .filter((name): name is string => typeof name === 'string' && isSafeRepoPath(name));
      return { commit: info.sha, files: files.sort() };
    });
  }

  /** The error a user can act on for a 4xx answer. */
  private errorFor(response: HubResponse, repo: string, revision: string, path?: string): Error {
    const code = String(response.headers['x-error-code'] ?? '');
    const status = response.status;
    const page = `${this.endpoint}/${repo}`;
    const tokenNote = this.auth.token ? 'the token that was sent does not give access' : 'no token was sent';
    if (code === 'RepoNotFound' || (status === 404 && path === undefined && code !== 'RevisionNotFound')) {
      // The hub answers a private repository as "not found" to whoever may not see it.
      return new LlamaError('ERR_NOT_FOUND', `Repository ${repo} was not found on ${this.endpoint} (HTTP ${status}). Check the name; if it is private, set HF_TOKEN or pass the "token" option (${tokenNote}).`);
    }
    if (code === 'RevisionNotFound') return new LlamaError('ERR_NOT_FOUND', `Revision "${revision}" of ${repo} was not found on ${this.endpoint}.`);
    if (status === 401 || status === 403) {
      return new LlamaError(
        'ERR_ACCESS_DENIED',
        `Access to ${repo} was denied (HTTP ${status}): the repository is gated or private. Accept its licence on ${page} while logged in, then set HF_TOKEN (or pass the "token" option) to a token of that account; ${tokenNote}.`,
      );
    }
    if (status === 404 && path !== undefined) return new EntryNotFound(`${path} was not found in ${repo} at revision ${revision}`);
    return new LlamaError('ERR_DOWNLOAD', `${page}: ${this.endpoint} answered HTTP ${status}${path ? ` for ${path}` : ''}`);
  }
}
