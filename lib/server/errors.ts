/**
 * HTTP errors in OpenAI's shape, `{ error: { message, type, param, code } }`, and the mapping
 * of the library's error codes onto HTTP statuses. Every failure a request can meet becomes
 * one of these, so clients (the official SDKs included) see a typed error, never a dropped
 * connection.
 */
import { isLlamaError } from '../errors.js';

/** OpenAI's error `type` for each status this server answers with. */
const TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  500: 'server_error',
  501: 'not_supported_error',
  503: 'unavailable_error',
};

/** The body of every error answer. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error that already knows its HTTP answer. */
export class HttpError extends Error {
  readonly status: number;
  readonly param: string | null;
  readonly code: string | null;
  /** Extra response headers (`Allow`, `Retry-After`, `WWW-Authenticate`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    message: string,
    options: { param?: string | null; code?: string | null; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HttpError';
    this.status = status;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  /** The JSON body of this answer. */
  body(): ErrorBody {
    return {
      error: {
        message: this.message,
        type: TYPE_BY_STATUS[this.status] ?? (this.status >= 500 ? 'server_error' : 'invalid_request_error'),
        param: this.param,
        code: this.code,
      },
    };
  }
}

/** A 400 about one request field, named as the client spelt it (`messages[0].content`). */
export function invalidField(param: string, expected: string, actual?: unknown): HttpError {
  const got = arguments.length >= 3 ? `, got ${describe(actual)}` : '';
  return new HttpError(400, `Invalid '${param}': expected ${expected}${got}`, { param, code: 'invalid_value' });
}

/** A field OpenAI defines that this server does not implement (yet). */
export function unsupportedField(param: string, why: string): HttpError {
  return new HttpError(400, `'${param}' is not supported: ${why}`, { param, code: 'unsupported_parameter' });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/**
 * A remote RPC server of the model failed: the model cannot generate again until it is loaded
 * anew, so this replica answers 503 (the load balancer routes elsewhere) until it is restarted.
 */
export function backendFailed(error: unknown): HttpError {
  const reason = error instanceof Error ? error.message : String(error);
  return new HttpError(503, `${reason}; restart this server once its RPC servers are reachable`, { code: 'backend_unavailable', cause: error });
}

/**
 * The answer for anything a handler threw. Library errors are mapped by their stable `code`;
 * `shuttingDown` turns the aborts and disposals that shutdown causes into 503 (try another
 * replica) rather than 500 (a bug).
 */
export function toHttpError(error: unknown, shuttingDown: boolean): HttpError {
  if (error instanceof HttpError) return error;
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (isLlamaError(error) || code === 'ERR_INVALID_ARG') {
    switch (code) {
      case 'ERR_INVALID_ARG':
        return new HttpError(400, message, { code: 'invalid_value', cause: error });
      case 'ERR_CONTEXT_FULL':
        return new HttpError(400, message, { code: 'context_length_exceeded', cause: error });
      case 'ERR_GRAMMAR':
        return new HttpError(400, message, { param: 'response_format', code: 'invalid_grammar', cause: error });
      case 'ERR_DISPOSED':
      case 'ERR_ABORTED':
        if (shuttingDown) return new HttpError(503, 'The server is shutting down', { code: 'shutting_down', cause: error });
        break;
      case 'ERR_RPC':
        return backendFailed(error);
    }
  }
  return new HttpError(500, message || 'Internal server error', { code: code ?? null, cause: error });
}
