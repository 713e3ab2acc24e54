/**
 * The one error class of llama-napi, with stable codes.
 *
 * Argument errors stay `TypeError` / `RangeError` (see validate.ts): they are programming
 * mistakes, while a {@link LlamaError} describes something that went wrong with a model, a
 * file or a running job. Both carry a `code` from {@link ERROR_CODES} (argument errors
 * `ERR_INVALID_ARG`), so that a service can branch on `code` alone.
 */
import { withInvalidArgCode } from './validate.js';

/**
 * Every error code, the one list: the {@link ErrorCode} type and the runtime check derive from
 * it, and the addon's codes (src/error_codes.h) are a subset of it (a test checks). Part of the
 * public API: never rename or remove one.
 */
export const ERROR_CODES = Object.freeze([
  'ERR_MODEL_LOAD',
  'ERR_CONTEXT_CREATE',
  'ERR_CONTEXT_FULL',
  'ERR_DECODE',
  'ERR_ABORTED',
  'ERR_DISPOSED',
  'ERR_INVALID_ARG',
  'ERR_BUSY',
  'ERR_NATIVE',
  'ERR_FILE_NOT_FOUND',
  'ERR_NOT_A_FILE',
  'ERR_GGUF_INVALID',
  'ERR_QUANTIZE',
  'ERR_INSUFFICIENT_MEMORY',
  'ERR_CHAT_TEMPLATE',
  'ERR_GRAMMAR',
  'ERR_BACKEND',
  'ERR_DOWNLOAD',
  'ERR_NOT_FOUND',
  'ERR_INTEGRITY',
  'ERR_ACCESS_DENIED',
  'ERR_RPC',
  'ERR_OUT_OF_MEMORY',
] as const);

/** Stable machine-readable error codes (see {@link ERROR_CODES}). */
export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** Whether `value` is one of the known {@link ErrorCode}s. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && KNOWN_CODES.has(value);
}

/** An error raised by llama-napi; `code` says what went wrong. */
export class LlamaError extends Error {
  /** Stable code to branch on; the message is for humans and may change. */
  readonly code: ErrorCode;

  /**
   * @param code - what went wrong
   * @param message - human-readable detail (names the file, option or object involved)
   * @param options - `cause`: the underlying error, if any
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  static {
    // On the prototype (not an own field) so `name` is not enumerated in logs twice.
    Object.defineProperty(this.prototype, 'name', {
      value: 'LlamaError',
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/**
 * Whether `error` is a {@link LlamaError}, optionally with the given code. Also true for one
 * raised by the package's other build (the CommonJS and the ES module build each have their
 * own class, so `instanceof` alone would say no).
 */
export function isLlamaError(error: unknown, code?: ErrorCode): error is LlamaError {
  const llama =
    error instanceof LlamaError || (error instanceof Error && error.name === 'LlamaError' && isErrorCode((error as { code?: unknown }).code));
  return llama && (code === undefined || (error as LlamaError).code === code);
}

/**
 * Converts whatever the addon threw into a {@link LlamaError}.
 *
 * The addon throws plain `Error`s carrying a string `code` (src/error_codes.h). Known codes
 * are kept; anything else becomes `ERR_NATIVE` with the original as `cause`. LlamaErrors,
 * TypeErrors and RangeErrors pass through, because they already say the right thing; an
 * argument error without a code gets `ERR_INVALID_ARG`.
 *
 * @param error - what the native call threw or rejected with
 * @param fallback - the code to use when the native error carries no known code
 * @internal
 */
export function fromNativeError(error: unknown, fallback: ErrorCode = 'ERR_NATIVE'): Error {
  if (error instanceof LlamaError) return error;
  if (error instanceof TypeError || error instanceof RangeError) {
    return (error as { code?: unknown }).code === undefined ? withInvalidArgCode(error) : error;
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return new LlamaError(isErrorCode(code) ? code : fallback, error.message, { cause: error });
  }
  return new LlamaError(fallback, String(error), { cause: error });
}

/**
 * Awaits a native promise and, if it rejects, rethrows the converted error with the
 * stack of the JS code that started the call.
 *
 * An error created on the addon's completion callback has a stack that points nowhere
 * useful; capturing one before the `await` keeps the caller's frames (the idea of
 * sharp's `nativeError` in `lib/is.js`).
 *
 * @param fn - starts the native work and returns its promise
 * @param fallback - code for native errors without a known code
 * @internal
 */
export async function callNative<T>(fn: () => Promise<T>, fallback: ErrorCode = 'ERR_NATIVE'): Promise<T> {
  const callerStack = captureCallerStack(callNative);
  try {
    return await fn();
  } catch (error) {
    throw withCallerStack(fromNativeError(error, fallback), callerStack);
  }
}

/**
 * Runs a synchronous native call and converts what it throws (see {@link fromNativeError}).
 * The stack is already the caller's: the error was thrown on this very call.
 * @internal
 */
export function callNativeSync<T>(fn: () => T, fallback: ErrorCode = 'ERR_NATIVE'): T {
  try {
    return fn();
  } catch (error) {
    throw fromNativeError(error, fallback);
  }
}

/**
 * Replaces the stack frames of `error` with `callerStack`'s frames, keeping its own
 * first line (name and message).
 * @internal
 */
export function withCallerStack<E extends Error>(error: E, callerStack: CallerStack): E {
  const stack = callerStack?.stack;
  if (stack === undefined) return error;
  const frames = stack.slice(stack.indexOf('\n') + 1);
  const head = `${error.name}: ${error.message}`;
  try {
    error.stack = frames.length > 0 ? `${head}\n${frames}` : head;
  } catch {
    // A frozen or exotic error object keeps its own stack; that is only cosmetic.
  }
  return error;
}

/**
 * Captures the current JS stack (without the frames of `below` and above it), to be given to
 * an error that is created later, after an `await`. See {@link withCallerStack}.
 * @internal
 */
export function captureCallerStack(below?: Function): CallerStack {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, below ?? captureCallerStack);
  return holder;
}

/**
 * A call site captured by {@link captureCallerStack}. Its `stack` text is formatted only when
 * read, i.e. only for a call that fails: V8 captures the frames eagerly but formats them (and
 * applies source maps) lazily, which is most of the cost and would otherwise be paid on every
 * `generate()`. @internal
 */
export type CallerStack = { readonly stack?: string } | undefined;

/** Creates the `ERR_DISPOSED` error for an object used after `dispose()`. @internal */
export function disposedError(what: string): LlamaError {
  return new LlamaError('ERR_DISPOSED', `${what} has been disposed`);
}
