/**
 * Options of pullModel() and resolveModel(): their types, defaults and validation, and how
 * they combine with the environment (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HUB_OFFLINE).
 */
import {
  booleanOption,
  functionOption,
  integerOption,
  nonEmptyString,
  optionsObject,
  rangeError,
  signalOption,
  typeError,
} from '../validate.js';
import { hubCacheDir, hubEndpoint, isOffline, savedToken } from './config.js';
import { isSafeRepoPath } from './ref.js';

/** Progress of one file of a pull, reported through `onProgress`. */
export interface PullProgress {
  /** `org/name` */
  repo: string;
  /** The file's path in the repository. */
  file: string;
  /** 0-based position of the file in the result, and the number of files. */
  fileIndex: number;
  fileCount: number;
  /** Bytes of the file present so far (a resumed download starts above 0). */
  downloadedBytes: number;
  totalBytes: number;
  /** True when the file was already present locally and nothing was downloaded. */
  cached: boolean;
}

/** Options of {@link resolveModel}. */
export interface ResolveModelOptions {
  /** Branch, tag or commit hash. Default `'main'`. */
  revision?: string;
  /** Look in this folder (as written by `pullModel({ localDir })` or `huggingface-cli download --local-dir`) instead of the cache. */
  localDir?: string;
  /** File name(s) or glob(s) of files in the repository (`*` matches across folders, like `huggingface-cli --include`). */
  include?: string | readonly string[];
  /** The cache root. Default: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
  cacheDir?: string;
}

/** Options of {@link pullModel}. */
export interface PullModelOptions extends ResolveModelOptions {
  /** Access token for gated or private repositories; `false` sends none. Default: `$HF_TOKEN`, else the token saved by `huggingface-cli login`. */
  token?: string | false;
  /** Called as files progress (at most every 100 ms per file, and once at each file's end). */
  onProgress?: (progress: PullProgress) => void;
  /** Aborts the pull (ERR_ABORTED); a partial download is kept and resumed by the next pull. */
  signal?: AbortSignal;
  /** The hub's URL. Default: `$HF_ENDPOINT`, else https://huggingface.co. */
  endpoint?: string;
  /** Never touch the network, answer from local files alone. Default: `$HF_HUB_OFFLINE`. */
  offline?: boolean;
  /** Connections for one large file, in [1, 64]. Default 8. */
  connections?: number;
  /** Files with at least this many bytes to fetch use parallel ranged connections. Default 64 MiB. */
  parallelThreshold?: number;
  /** Further attempts after a transient failure (dropped connection, 5xx, 429), in [0, 100]. Default 5. */
  retries?: number;
  /** Delay before the first retry in ms, doubled at each retry, in [0, 60000]. Default 500. */
  retryDelayMs?: number;
}

/** Defaults of the tunable download options. */
export const PULL_DEFAULTS = Object.freeze({
  revision: 'main',
  connections: 8,
  parallelThreshold: 64 * 1024 * 1024,
  retries: 5,
  retryDelayMs: 500,
});

const RESOLVE_KEYS = ['revision', 'localDir', 'include', 'cacheDir'] as const;
const PULL_KEYS = [...RESOLVE_KEYS, 'token', 'onProgress', 'signal', 'endpoint', 'offline', 'connections', 'parallelThreshold', 'retries', 'retryDelayMs'] as const;

/** Options after validation, defaults and the environment applied. @internal */
export interface PullSettings {
  revision: string;
  localDir: string | undefined;
  include: string[] | undefined;
  cacheDir: string;
  token: string | undefined;
  onProgress: ((progress: PullProgress) => void) | undefined;
  signal: AbortSignal | undefined;
  endpoint: string;
  offline: boolean;
  connections: number;
  parallelThreshold: number;
  retries: number;
  retryDelayMs: number;
}

function stringOption(name: string, value: unknown): string {
  if (typeof value !== 'string') throw typeError(name, 'a non-empty string', value);
  if (value.length === 0) throw rangeError(name, 'a non-empty string', value);
  return value;
}

function revisionOption(value: unknown): string {
  const expected = 'a branch, tag or commit hash (like "main" or "refs/pr/1")';
  if (typeof value !== 'string') throw typeError('revision', expected, value);
  if (!/^[A-Za-z0-9._/-]+$/.test(value) || !isSafeRepoPath(value)) throw rangeError('revision', expected, value);
  return value;
}

function includeOption(value: unknown): string[] {
  const expected = 'a file name or glob, or an array of them';
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) throw typeError('include', expected, value);
  if (list.length === 0 || list.length > 1000) throw rangeError('include', expected, value);
  return list.map((item: unknown, index) => {
    if (typeof item !== 'string') throw typeError(`include[${index}]`, 'a file name or glob', item);
    // A name becomes a path on disk: nothing that could leave the folder (no "..", no absolute path).
    if (!isSafeRepoPath(item)) throw rangeError(`include[${index}]`, 'a relative file name or glob inside the repository', item);
    return item;
  });
}

function endpointOption(value: unknown): string {
  const expected = 'an http: or https: URL';
  if (typeof value !== 'string') throw typeError('endpoint', expected, value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw rangeError('endpoint', expected, value);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw rangeError('endpoint', expected, value);
  return value.replace(/\/+$/, '');
}

/** Validates `ref` and the options of pullModel (or, with `resolveOnly`, of resolveModel). @internal */
export function pullSettings(ref: unknown, options: unknown, resolveOnly = false): { ref: string; settings: PullSettings } {
  const checkedRef = nonEmptyString('ref', ref);
  const what = resolveOnly ? 'resolveModel options' : 'pullModel options';
  const raw = optionsObject(options, what, resolveOnly ? RESOLVE_KEYS : PULL_KEYS);
  const token = raw['token'];
  if (token !== undefined && token !== false && (typeof token !== 'string' || token.trim().length === 0)) {
    throw (typeof token === 'string' ? rangeError : typeError)('token', 'a non-empty string or false', token);
  }
  const settings: PullSettings = {
    revision: raw['revision'] === undefined ? PULL_DEFAULTS.revision : revisionOption(raw['revision']),
    localDir: raw['localDir'] === undefined ? undefined : stringOption('localDir', raw['localDir']),
    include: raw['include'] === undefined ? undefined : includeOption(raw['include']),
    cacheDir: raw['cacheDir'] === undefined ? hubCacheDir() : stringOption('cacheDir', raw['cacheDir']),
    token: token === false || resolveOnly ? undefined : typeof token === 'string' ? token.trim() : savedToken(),
    onProgress: raw['onProgress'] === undefined ? undefined : functionOption<(progress: PullProgress) => void>('onProgress', raw['onProgress']),
    signal: raw['signal'] === undefined ? undefined : signalOption('signal', raw['signal']),
    endpoint: raw['endpoint'] === undefined ? hubEndpoint() : endpointOption(raw['endpoint']),
    offline: resolveOnly || (raw['offline'] === undefined ? isOffline() : booleanOption('offline', raw['offline'])),
    connections: raw['connections'] === undefined ? PULL_DEFAULTS.connections : integerOption('connections', raw['connections'], { min: 1, max: 64 }),
    parallelThreshold:
      raw['parallelThreshold'] === undefined ? PULL_DEFAULTS.parallelThreshold : integerOption('parallelThreshold', raw['parallelThreshold'], { min: 1, max: Number.MAX_SAFE_INTEGER }),
    retries: raw['retries'] === undefined ? PULL_DEFAULTS.retries : integerOption('retries', raw['retries'], { min: 0, max: 100 }),
    retryDelayMs: raw['retryDelayMs'] === undefined ? PULL_DEFAULTS.retryDelayMs : integerOption('retryDelayMs', raw['retryDelayMs'], { min: 0, max: 60_000 }),
  };
  return { ref: checkedRef, settings };
}
