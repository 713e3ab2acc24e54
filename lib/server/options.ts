/**
 * Options of {@link createServer} and their defaults and validation.
 */
import { basename } from 'node:path';
import type { ContextOptions, LoadModelOptions, Logger, Model } from '../index.js';
import type { CorsOption } from './access.js';

/** Options of {@link createServer}. */
export interface ServerOptions {
  /**
   * The model: a loaded {@link Model} (the server never disposes it: it stays the caller's), or
   * the path of a GGUF file that the server loads with `load` and disposes on `close()`.
   */
  model: Model | string;
  /** How to load `model` when it is a path (`gpuLayers`, `useMmap`, …). */
  load?: LoadModelOptions;
  /**
   * The context the server creates on the model (`contextSize`, `batchSize`, `threads`,
   * `flashAttention`, KV cache types, …). `contextSize` is shared by all sequences: each request
   * can hold `contextSize / parallel` tokens, prompt and reply together. `burstWindowMs` defaults
   * to {@link SERVER_DEFAULTS}' 5 here (0 in the library): requests that arrive together at an
   * idle server start together, their prompts in one batch.
   */
  context?: Omit<ContextOptions, 'sequences' | 'embeddings'>;
  /** Requests served at once (the context's `sequences`, llama-server's `--parallel`). Default `1`. */
  parallel?: number;
  /** Requests that may wait for a free sequence; more are refused with 503 and `Retry-After`. Default `64`. */
  maxQueue?: number;
  /** When set, every endpoint but `/health` requires `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** CORS for browsers: `true` allows any origin, a string or list allows those origins. Default `false` (no CORS headers). */
  cors?: CorsOption;
  /** Largest request body in bytes (413 beyond). Default 8 MiB. */
  maxBodyBytes?: number;
  /**
   * The chat template for /v1/chat/completions: a built-in name (`chatml`, `llama2`,
   * `mistral-v1`, … see `chatTemplateNames()`) or a template text llama.cpp recognises. Default:
   * the model's own `tokenizer.chat_template` (a model without one answers chat requests with 500).
   */
  chatTemplate?: string;
  /** The model id that `/v1/models` reports and responses carry. Default: the file name without `.gguf`. */
  modelName?: string;
  /**
   * Serve embeddings: the context is an embedding context, `/v1/embeddings` answers and the
   * generation endpoints answer 501 (llama-server's `--embeddings`). Default `false`.
   */
  embeddings?: boolean;
  /** How long `close()` lets running requests finish before aborting them, in ms. Default `10000`. */
  shutdownTimeoutMs?: number;
  /** Receives the server's log lines (request failures, shutdown). Default: none (the library never prints). */
  logger?: Logger;
}

/** {@link ServerOptions} after validation, with defaults applied. */
export interface ResolvedServerOptions {
  model: Model | string;
  load: LoadModelOptions | undefined;
  context: ContextOptions;
  parallel: number;
  maxQueue: number;
  apiKey: string | undefined;
  cors: CorsOption;
  maxBodyBytes: number;
  chatTemplate: string | undefined;
  modelName: string;
  embeddings: boolean;
  shutdownTimeoutMs: number;
  logger: Logger | undefined;
}

/** Defaults of {@link ServerOptions}. */
export const SERVER_DEFAULTS = Object.freeze({
  parallel: 1,
  maxQueue: 64,
  /**
   * The context's `burstWindowMs`: an idle server waits up to 5 ms (20 ms while requests keep
   * arriving) so that a burst's prompts decode together. Measured with 64 clients at once
   * (docs/benchmarks.md): without it the first request starts alone, and running and starting
   * requests stay out of step for the whole run, each new prompt sharing its decode with the
   * others' next tokens.
   */
  burstWindowMs: 5,
  maxBodyBytes: 8 * 1024 * 1024,
  shutdownTimeoutMs: 10_000,
  host: '127.0.0.1',
  port: 8080,
});

const KEYS = new Set([
  'model', 'load', 'context', 'parallel', 'maxQueue', 'apiKey', 'cors', 'maxBodyBytes',
  'chatTemplate', 'modelName', 'embeddings', 'shutdownTimeoutMs', 'logger',
]);

function argError(kind: typeof TypeError | typeof RangeError, name: string, expected: string, actual: unknown): Error {
  const shown = typeof actual === 'string' ? JSON.stringify(actual) : String(actual);
  return Object.assign(new kind(`Invalid server option "${name}": expected ${expected}, got ${shown}`), { code: 'ERR_INVALID_ARG' });
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw argError(TypeError, name, `an integer in [${min}, ${max}]`, value);
  if (!Number.isInteger(value) || value < min || value > max) throw argError(RangeError, name, `an integer in [${min}, ${max}]`, value);
  return value;
}

/** Validates {@link ServerOptions}: wrong types and unknown keys (a misspelt option) are errors. */
export function resolveServerOptions(options: unknown): ResolvedServerOptions {
  if (options === null || typeof options !== 'object') throw argError(TypeError, 'options', 'an object', options);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KEYS.has(key)) throw argError(TypeError, key, 'a known option (unknown key)', o[key]);
  }
  const model = o['model'];
  if (typeof model !== 'string' && (model === null || typeof model !== 'object' || typeof (model as Model).createContext !== 'function')) {
    throw argError(TypeError, 'model', 'a loaded Model or a GGUF file path', model);
  }
  const apiKey = o['apiKey'];
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey.length === 0)) throw argError(TypeError, 'apiKey', 'a non-empty string', apiKey);
  const cors = o['cors'] ?? false;
  const corsOk = typeof cors === 'boolean' || typeof cors === 'string' || (Array.isArray(cors) && cors.every((x) => typeof x === 'string'));
  if (!corsOk) throw argError(TypeError, 'cors', 'a boolean, an origin or a list of origins', cors);
  const modelName = o['modelName'] ?? defaultModelName(model as Model | string);
  if (typeof modelName !== 'string' || modelName.length === 0) throw argError(TypeError, 'modelName', 'a non-empty string', modelName);
  const chatTemplate = o['chatTemplate'];
  if (chatTemplate !== undefined && (typeof chatTemplate !== 'string' || chatTemplate.length === 0)) {
    throw argError(TypeError, 'chatTemplate', 'a built-in template name or a template text', chatTemplate);
  }
  const embeddings = o['embeddings'] ?? false;
  if (typeof embeddings !== 'boolean') throw argError(TypeError, 'embeddings', 'a boolean', embeddings);
  const logger = o['logger'];
  if (logger !== undefined && typeof logger !== 'function') throw argError(TypeError, 'logger', 'a function (level, message)', logger);
  for (const key of ['load', 'context'] as const) {
    if (o[key] !== undefined && (o[key] === null || typeof o[key] !== 'object')) throw argError(TypeError, key, 'an options object', o[key]);
  }
  const d = SERVER_DEFAULTS;
  return {
    model: model as Model | string,
    load: o['load'] as LoadModelOptions | undefined,
    context: { burstWindowMs: d.burstWindowMs, ...(o['context'] as ContextOptions | undefined) },
    parallel: integer('parallel', o['parallel'], d.parallel, 1, 256),
    maxQueue: integer('maxQueue', o['maxQueue'], d.maxQueue, 0, 1_000_000),
    apiKey: apiKey as string | undefined,
    cors: cors as ResolvedServerOptions['cors'],
    maxBodyBytes: integer('maxBodyBytes', o['maxBodyBytes'], d.maxBodyBytes, 1, 2 ** 31 - 1),
    chatTemplate: chatTemplate as string | undefined,
    modelName,
    embeddings,
    shutdownTimeoutMs: integer('shutdownTimeoutMs', o['shutdownTimeoutMs'], d.shutdownTimeoutMs, 0, 2 ** 31 - 1),
    logger: logger as Logger | undefined,
  };
}

function defaultModelName(model: Model | string): string {
  const path = typeof model === 'string' ? model : model.info.path;
  return basename(path).replace(/\.gguf$/i, '') || 'model';
}
