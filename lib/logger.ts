/**
 * Routes llama.cpp/ggml log output and the library's own diagnostics to one user logger.
 * Quiet by default: the library never prints.
 */
import type { NativeAddon } from './native.js';
import { NativeLogLevel } from './native.js';
import { argRangeError, argTypeError } from './validate.js';

/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives one complete log line (no trailing newline). */
export type Logger = (level: LogLevel, message: string) => void;

/** Options of {@link setLogger}. */
export interface SetLoggerOptions {
  /** Least severe level passed to the logger. Default `'warn'` (llama.cpp is chatty at info). */
  level?: LogLevel;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

const TO_NATIVE: Record<LogLevel, NativeLogLevel> = {
  debug: NativeLogLevel.Debug,
  info: NativeLogLevel.Info,
  warn: NativeLogLevel.Warn,
  error: NativeLogLevel.Error,
};

/**
 * The logger and the native line being assembled (llama.cpp logs in pieces). Kept on
 * globalThis: when the ES module and the CommonJS build of this package are both loaded, they
 * share the one addon and its one log sink, so they must share one logger too.
 */
interface LoggerState {
  logger: Logger | null;
  minLevel: LogLevel;
  addon: NativeAddon | undefined;
  lineLevel: LogLevel;
  lineText: string;
}
const STATE_KEY = Symbol.for('llama-napi.logger');
const shared = globalThis as { [STATE_KEY]?: LoggerState };
const state: LoggerState = (shared[STATE_KEY] ??= { logger: null, minLevel: 'warn', addon: undefined, lineLevel: 'info', lineText: '' });

/**
 * Sets (or with `null` removes) the logger that receives llama.cpp's log lines and the
 * library's own warnings (e.g. a user callback that threw). A logger that throws is ignored:
 * it is called from native callbacks, where an exception would have nowhere to go.
 *
 * @param logger - receives `(level, message)`; `null` turns logging off (the default)
 * @param options - `level`: least severe level delivered (default `'warn'`)
 */
export function setLogger(logger: Logger | null, options?: SetLoggerOptions): void {
  if (logger !== null && typeof logger !== 'function') {
    throw argTypeError(`Invalid argument "logger": expected a function or null, got ${typeof logger}`);
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw argTypeError('Invalid argument "options": expected an object or undefined');
  }
  const level = options?.level ?? 'warn';
  if (!LEVELS.includes(level)) {
    throw argRangeError(`Invalid option "level": expected one of ${LEVELS.join(', ')}, got ${String(level)}`);
  }
  state.logger = logger;
  state.minLevel = level;
  state.lineText = '';
  if (state.addon) applyTo(state.addon);
}

/**
 * Connects the current logger to the addon; called once when the addon is first loaded, so
 * setting a logger never forces the native library to load by itself.
 * @internal
 */
export function attachLogger(addon: NativeAddon): void {
  state.addon = addon;
  applyTo(addon);
}

function applyTo(addon: NativeAddon): void {
  if (state.logger === null) addon.setLogger(null, NativeLogLevel.None);
  else addon.setLogger(onNativeLog, TO_NATIVE[state.minLevel]);
}

/**
 * Reports a library diagnostic through the user logger (dropped when none is set).
 * @internal
 */
export function log(level: LogLevel, message: string): void {
  if (state.logger === null || LEVELS.indexOf(level) < LEVELS.indexOf(state.minLevel)) return;
  deliver(level, message);
}

function deliver(level: LogLevel, message: string): void {
  try {
    state.logger?.(level, message);
  } catch {
    // A broken logger must not turn logging into a crash.
  }
}

function fromNative(level: NativeLogLevel): LogLevel | undefined {
  switch (level) {
    case NativeLogLevel.Debug:
      return 'debug';
    case NativeLogLevel.Info:
    case NativeLogLevel.None:
      return 'info';
    case NativeLogLevel.Warn:
      return 'warn';
    case NativeLogLevel.Error:
      return 'error';
    default:
      return undefined; // Cont: continues the current line
  }
}

/** Assembles llama.cpp's log pieces into lines; a 'Cont' piece continues the previous level. */
function onNativeLog(level: NativeLogLevel, text: string): void {
  const named = fromNative(level);
  if (named !== undefined && named !== state.lineLevel) {
    flushLine();
    state.lineLevel = named;
  }
  state.lineText += String(text);
  let newline = state.lineText.indexOf('\n');
  while (newline !== -1) {
    const line = state.lineText.slice(0, newline);
    state.lineText = state.lineText.slice(newline + 1);
    if (line.trim().length > 0) deliver(state.lineLevel, line);
    newline = state.lineText.indexOf('\n');
  }
}

function flushLine(): void {
  if (state.lineText.trim().length > 0) deliver(state.lineLevel, state.lineText);
  state.lineText = '';
}

/**
 * Wraps a user callback that native code calls, so an exception in it is reported through the
 * logger instead of escaping into a native callback (where it would be an uncaught exception).
 * @internal
 */
export function guardCallback<A extends unknown[]>(name: string, callback: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      callback(...args);
    } catch (error) {
      log('warn', `${name} callback threw (ignored): ${error instanceof Error ? error.message : String(error)}`);
    }
  };
}
