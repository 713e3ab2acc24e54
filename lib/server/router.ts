/**
 * The request handler: CORS, the API key, routing (404 for unknown paths, 405 for known paths
 * with the wrong method), the per-request abort signal, and turning anything thrown into an
 * OpenAI-shaped error answer. Every request ends counted in the metrics by route and status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { applyCors, bearerCheck } from './access.js';
import type { Engine } from './engine.js';
import { embeddings } from './embeddings-endpoint.js';
import { HttpError, toHttpError } from './errors.js';
import { CLIENT_GONE_STATUS, ClientGone, type Exchange } from './exchange.js';
import { chatCompletions, completions } from './generation-endpoints.js';
import { closeAfterResponse, readJsonBody, sendJson } from './http-io.js';
import { detokenize, health, listModels, metrics, retrieveModel, tokenize } from './info-endpoints.js';

type Handler = (x: Exchange, param: string) => Promise<number>;

interface Route {
  /** The label in metrics: the pattern, never the raw path (label values must stay few). */
  name: string;
  method: 'GET' | 'POST';
  match: (path: string) => string | null;
  handler: Handler;
  /** Reachable without the API key (load-balancer probes). */
  public?: boolean;
}

const exact = (...paths: string[]) => (path: string) => (paths.includes(path) ? '' : null);
const prefixed = (prefix: string) => (path: string) => (path.startsWith(prefix) && path.length > prefix.length ? decoded(path.slice(prefix.length)) : null);

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // malformed %-escapes: compared as written, so the answer is a 404, not a 500
  }
}

/** OpenAI's paths, plus the same without `/v1` as llama-server accepts them. */
const ROUTES: readonly Route[] = [
  { name: '/v1/chat/completions', method: 'POST', match: exact('/v1/chat/completions', '/chat/completions'), handler: chatCompletions },
  { name: '/v1/completions', method: 'POST', match: exact('/v1/completions', '/completions'), handler: completions },
  { name: '/v1/embeddings', method: 'POST', match: exact('/v1/embeddings', '/embeddings'), handler: embeddings },
  { name: '/v1/models', method: 'GET', match: exact('/v1/models', '/models'), handler: listModels },
  { name: '/v1/models/{id}', method: 'GET', match: prefixed('/v1/models/'), handler: retrieveModel },
  { name: '/health', method: 'GET', match: exact('/health', '/v1/health'), handler: health, public: true },
  { name: '/metrics', method: 'GET', match: exact('/metrics'), handler: metrics },
  { name: '/tokenize', method: 'POST', match: exact('/tokenize'), handler: tokenize },
  { name: '/detokenize', method: 'POST', match: exact('/detokenize'), handler: detokenize },
];

/** Makes the `(req, res)` handler for `engine`. */
export function createHandler(engine: Engine): (req: IncomingMessage, res: ServerResponse) => void {
  const checkKey = bearerCheck(engine.options.apiKey);
  const logger = engine.options.logger;
  // A logger that throws must not keep an answer from being sent.
  const log = (level: 'debug' | 'error', message: string): void => {
    try {
      logger?.(level, message);
    } catch {
      // ignored, as the library ignores a throwing logger
    }
  };
  return (req, res) => {
    const arrivedAt = performance.now();
    const path = pathOf(req.url);
    const gone = new AbortController();
    // 'close' before the answer finished = the client went away (or the socket broke).
    res.once('close', () => {
      if (!res.writableFinished) gone.abort(new ClientGone());
    });
    let bodyRead: Promise<unknown> | undefined;
    const x: Exchange = {
      req,
      res,
      engine,
      path,
      arrivedAt,
      clientGone: gone.signal,
      body: () => (bodyRead ??= bodyOf(req, engine.options.maxBodyBytes)),
    };
    let routeName = 'other';
    const run = async (): Promise<number> => {
      if (applyCors(engine.options.cors, req, res)) return 204;
      const matches = ROUTES.flatMap((route) => {
        const param = route.match(path);
        return param === null ? [] : [{ route, param }];
      });
      if (matches.length === 0) throw new HttpError(404, `Unknown route ${req.method ?? ''} ${path}`, { code: 'not_found' });
      const found = matches.find(({ route }) => route.method === req.method);
      routeName = (found ?? matches[0]!).route.name;
      if (found === undefined) {
        const allow = [...new Set(matches.map(({ route }) => route.method))].join(', ');
        throw new HttpError(405, `Method ${req.method ?? ''} is not allowed on ${path}; use ${allow}`, {
          code: 'method_not_allowed',
          headers: { Allow: allow },
        });
      }
      if (!found.route.public) checkKey?.(req);
      return found.route.handler(x, found.param);
    };
    run()
      .catch((error: unknown) => {
        // A client that left while its body was being read: nobody to answer, nothing to log.
        if (gone.signal.aborted) return CLIENT_GONE_STATUS;
        engine.noteFailure(error);
        const failure = toHttpError(error, engine.shuttingDown);
        if (failure.status >= 500 && failure.status !== 503) {
          const cause = failure.cause instanceof Error ? failure.cause : failure;
          log('error', `${req.method} ${path}: ${cause.stack ?? cause.message}`);
        }
        if (!res.headersSent) closeAfterResponse(req, res);
        sendJson(res, failure.status, failure.body(), failure.headers);
        return failure.status;
      })
      .then((status) => {
        engine.metrics.request(routeName, status);
        if (logger !== undefined) log('debug', `${req.method} ${path} ${status} ${(performance.now() - arrivedAt).toFixed(0)} ms`);
      })
      // Last resort: whatever failed while answering must not become an unhandled rejection
      // (which would end the user's process); the client sees the connection close.
      .catch(() => res.destroy());
  };
}

/**
 * The JSON body: read from the stream, or the object a framework's body parser already made of
 * it (Express's `express.json()` sets `req.body` and consumes the stream).
 */
function bodyOf(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed !== undefined && req.readableEnded) return Promise.resolve(parsed);
  return readJsonBody(req, maxBytes);
}

function pathOf(url: string | undefined): string {
  const path = (url ?? '/').split('?', 1)[0]!;
  // Tolerate a trailing slash (`/v1/models/`) as most OpenAI-compatible servers do.
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
