/**
 * HTTP for the hub: one request at a time, redirects followed by hand, and the token sent to
 * the hub's own host only. Node's http/https, nothing else.
 *
 * Redirects are not left to a library because the download URL of an LFS file is a redirect to
 * a storage host (a CDN with a signed URL): the Authorization header must not follow it there.
 * @internal
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { LlamaError } from '../errors.js';
import { hubTuning } from './tuning.js';

/** `User-Agent` of every request, so the hub can tell this client apart. */
export const USER_AGENT = `llama-napi (node/${process.versions.node}; ${process.platform})`;

/** Who may receive the token: only the endpoint's origin. */
export interface HubAuth {
  endpoint: URL;
  token?: string | undefined;
}

export interface HubRequest {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /**
   * `'relative'`: follow only relative Locations (the hub's renamed repositories), as
   * huggingface_hub does for its HEAD; an absolute one is the answer (the file's storage URL).
   */
  followRedirects?: 'all' | 'relative';
}

export interface HubResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  body: IncomingMessage;
}

/** A failure worth another attempt: a dropped connection, a 5xx, a 429. */
export class TransientError extends Error {
  constructor(message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'UND_ERR_SOCKET']);

/** Whether a network error (not an HTTP status) is worth retrying. */
export function isTransientNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

/** The error for an aborted operation; what was downloaded stays for a later resume. */
export function abortError(signal: AbortSignal | undefined): LlamaError {
  return new LlamaError('ERR_ABORTED', 'The download was aborted (what arrived is kept and resumed next time)', { cause: signal?.reason });
}

/** The headers to send to `url`: the token only to the endpoint's own origin. */
export function requestHeaders(url: URL, auth: HubAuth, extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT, 'Accept-Encoding': 'identity', ...extra };
  if (auth.token && url.origin === auth.endpoint.origin) headers['Authorization'] = `Bearer ${auth.token}`;
  return headers;
}

/** Sends one request (no redirects); resolves once the response headers have arrived. */
function send(url: URL, method: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const requestFn = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined;
    if (!requestFn) return reject(new LlamaError('ERR_DOWNLOAD', `Unsupported URL protocol in ${url.origin} (expected http: or https:)`));
    const req = requestFn(url, { method, headers });
    let response: IncomingMessage | undefined;
    // Abort ends the request and, once it has begun, the body the caller may be reading.
    const onAbort = () => {
      const error = abortError(signal);
      req.destroy(error);
      response?.destroy(error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);
    req.setTimeout(hubTuning.socketTimeoutMs, () => {
      req.destroy(Object.assign(new Error(`No answer from ${url.host} for ${hubTuning.socketTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
    });
    req.on('response', (answer) => {
      response = answer;
      answer.once('close', done);
      resolve(answer);
    });
    req.on('error', (error) => {
      done();
      reject(error);
    });
    req.end();
  });
}

/**
 * Sends a request and follows redirects (relative and absolute) itself, re-deciding at every
 * hop whether the token may go along. The final response's body is for the caller to read or
 * discard; redirect bodies are discarded here.
 */
export async function hubRequest(url: URL, auth: HubAuth, options: HubRequest = {}): Promise<HubResponse> {
  let current = url;
  let method = options.method ?? 'GET';
  for (let hop = 0; ; hop++) {
    const body = await send(current, method, requestHeaders(current, auth, options.headers), options.signal);
    const status = body.statusCode ?? 0;
    const location = body.headers.location;
    if (!REDIRECTS.has(status) || location === undefined) return { status, headers: body.headers, url: current, body };
    const relative = !/^[a-z][a-z0-9+.-]*:|^\/\//i.test(location);
    if (options.followRedirects === 'relative' && !relative) return { status, headers: body.headers, url: current, body };
    const next = new URL(location, current);
    body.resume();
    if (hop >= MAX_REDIRECTS) throw new LlamaError('ERR_DOWNLOAD', `Too many redirects starting at ${url.href}`);
    if (status === 303) method = 'GET';
    current = next;
  }
}

/** Reads a (small) response body as text, refusing more than `limit` bytes. */
export async function readText(response: HubResponse, limit = 32 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      response.body.destroy();
      throw new LlamaError('ERR_DOWNLOAD', `The answer of ${response.url.origin} is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Turns a 5xx or 429 into a TransientError (with the server's Retry-After), else returns. */
export function throwIfTransient(response: HubResponse): void {
  const { status } = response;
  if (status !== 429 && !(status >= 500 && status <= 599)) return;
  response.body.resume();
  throw new TransientError(`${response.url.origin} answered HTTP ${status}`, retryAfterMs(response.headers['retry-after']));
}

/** Retry-After as seconds or as an HTTP date, in milliseconds. */
function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.max(0, Math.min(ms, hubTuning.maxRetryAfterMs)) : undefined;
}
