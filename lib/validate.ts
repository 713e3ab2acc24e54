/**
 * Argument validation with one message formula for every option:
 *
 *     Invalid option "topP": expected a number in (0, 1], got 1.5
 *
 * A value of the wrong type (including NaN and missing required values) is a `TypeError`;
 * a value of the right type outside its range is a `RangeError`. Both carry the code
 * `ERR_INVALID_ARG`, as Node's own argument errors carry theirs, so that a caller (an HTTP
 * server, say) can map every error of the library to an answer by `code` alone. Everything
 * that llama.cpp would `GGML_ASSERT` on is caught here first, so a bad argument never
 * reaches native code.
 * @internal
 */

/** Largest value of a C `int32_t`: the native side stores most counts in one. */
export const INT32_MAX = 2_147_483_647;

/** Renders `value` for an error message: short, unambiguous, never throws. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      return 'an object';
  }
}

/** Whether the checked value is a field of an options object or a positional argument. */
export type ValueKind = 'option' | 'argument';

/** Builds the one message formula shared by every argument error. */
export function invalidMessage(name: string, expected: string, actual: unknown, kind: ValueKind = 'option'): string {
  return `Invalid ${kind} "${name}": expected ${expected}, got ${describeValue(actual)}`;
}

/** The code of every argument error (see the top of this file). */
export const INVALID_ARG = 'ERR_INVALID_ARG';

/** A `TypeError` or `RangeError` with `code: 'ERR_INVALID_ARG'`. */
export type ArgumentError = (TypeError | RangeError) & { readonly code: typeof INVALID_ARG };

/** Gives an argument error the code `ERR_INVALID_ARG`. */
export function withInvalidArgCode<E extends Error>(error: E): E & { readonly code: typeof INVALID_ARG } {
  // Enumerable like Node's own `code`, so that logging the error shows it.
  Object.defineProperty(error, 'code', { value: INVALID_ARG, enumerable: true, writable: true, configurable: true });
  return error as E & { readonly code: typeof INVALID_ARG };
}

/** A coded `TypeError` with a message of its own (prefer {@link typeError}'s formula). */
export function argTypeError(message: string): TypeError & { readonly code: typeof INVALID_ARG } {
  return withInvalidArgCode(new TypeError(message));
}

/** A coded `RangeError` with a message of its own (prefer {@link rangeError}'s formula). */
export function argRangeError(message: string): RangeError & { readonly code: typeof INVALID_ARG } {
  return withInvalidArgCode(new RangeError(message));
}

/** A `TypeError` in the shared formula: `value` has the wrong type. */
export function typeError(name: string, expected: string, actual: unknown, kind?: ValueKind): TypeError {
  return argTypeError(invalidMessage(name, expected, actual, kind));
}

/** A `RangeError` in the shared formula: `value` has the right type but is out of range. */
export function rangeError(name: string, expected: string, actual: unknown, kind?: ValueKind): RangeError {
  return argRangeError(invalidMessage(name, expected, actual, kind));
}

/**
 * Checks that `value` is a plain options object (or undefined) with only `knownKeys`.
 * Keys whose value is `undefined` count as absent (known or not), the usual JS convention.
 * Unknown keys are a `TypeError`: a misspelt `temprature` must not be silently ignored.
 *
 * @param value - what the caller passed
 * @param what - the name of the options parameter, for messages (e.g. "generate options")
 * @param knownKeys - the option names this object may contain
 * @returns the object's own defined entries
 */
export function optionsObject(
  value: unknown,
  what: string,
  knownKeys: readonly string[],
): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw argTypeError(`Invalid ${what}: expected an object or undefined, got ${describeValue(value)}`);
  }
  const entries: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[key];
    if (field === undefined) continue; // absent, whatever its name: spreading partial objects is common
    if (!knownKeys.includes(key)) {
      throw argTypeError(
        `Invalid option "${key}": not a known ${what} key (known: ${knownKeys.join(', ')})`,
      );
    }
    entries[key] = field;
  }
  return entries;
}

/** Validates a string option against its allowed values (wrong type: TypeError; unknown value: RangeError). @internal */
export function enumOption<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  const expected = `one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  if (typeof value !== 'string') throw typeError(name, expected, value);
  if (!(allowed as readonly string[]).includes(value)) throw rangeError(name, expected, value);
  return value as T;
}

/** Bounds of a numeric option; `exclusive` bounds are open (written with parentheses). */
export interface NumberBounds {
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

/** Writes bounds as an interval: `[1, 256]`, `(0, 1]`, `>= 0`, `> 0`. */
export function describeBounds({ min, max, minExclusive, maxExclusive }: NumberBounds): string {
  if (min !== undefined && max !== undefined) {
    return `in ${minExclusive ? '(' : '['}${min}, ${max}${maxExclusive ? ')' : ']'}`;
  }
  if (min !== undefined) return `${minExclusive ? '>' : '>='} ${min}`;
  if (max !== undefined) return `${maxExclusive ? '<' : '<='} ${max}`;
  return '';
}

function withinBounds(value: number, { min, max, minExclusive, maxExclusive }: NumberBounds): boolean {
  if (min !== undefined && (minExclusive ? value <= min : value < min)) return false;
  if (max !== undefined && (maxExclusive ? value >= max : value > max)) return false;
  return true;
}

/**
 * Validates an integer option. Non-numbers and NaN are `TypeError`s; fractions,
 * infinities and out-of-range values are `RangeError`s.
 *
 * @param expectedSuffix - extra allowed forms for the message (e.g. ` or "max"`)
 */
export function integerOption(name: string, value: unknown, bounds: NumberBounds, expectedSuffix = ''): number {
  const expected = `an integer ${describeBounds(bounds)}${expectedSuffix}`.trimEnd();
  if (typeof value !== 'number' || Number.isNaN(value)) throw typeError(name, expected, value);
  if (!Number.isInteger(value) || !withinBounds(value, bounds)) throw rangeError(name, expected, value);
  return value;
}

/**
 * Validates a finite number option. Non-numbers and NaN are `TypeError`s;
 * infinities and out-of-range values are `RangeError`s.
 */
export function numberOption(name: string, value: unknown, bounds: NumberBounds): number {
  const bounded = bounds.min !== undefined && bounds.max !== undefined;
  const expected = `${bounded ? 'a number' : 'a finite number'} ${describeBounds(bounds)}`.trimEnd();
  if (typeof value !== 'number' || Number.isNaN(value)) throw typeError(name, expected, value);
  if (!Number.isFinite(value) || !withinBounds(value, bounds)) throw rangeError(name, expected, value);
  return value;
}

/** Validates a boolean option (no truthiness coercion: `"false"` is rejected). */
export function booleanOption(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

/** Validates a callback option. */
export function functionOption<F extends (...args: never[]) => unknown>(name: string, value: unknown): F {
  if (typeof value !== 'function') throw typeError(name, 'a function', value);
  return value as F;
}

/** Validates an `AbortSignal` option (duck-typed, so signals from other realms work). */
export function signalOption(name: string, value: unknown): AbortSignal {
  const looksLikeSignal =
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function' &&
    typeof (value as AbortSignal).removeEventListener === 'function';
  if (!looksLikeSignal) throw typeError(name, 'an AbortSignal', value);
  return value as AbortSignal;
}

/**
 * Validates a list of non-empty strings (e.g. stop strings), at most `maxItems` long.
 * Lone surrogates are replaced by U+FFFD, the same as text sent to the model.
 */
export function stringListOption(name: string, value: unknown, maxItems: number): string[] {
  const expected = `an array of at most ${maxItems} non-empty strings`;
  if (!Array.isArray(value)) throw typeError(name, expected, value);
  if (value.length > maxItems) {
    throw argRangeError(`Invalid option "${name}": expected ${expected}, got ${value.length} strings`);
  }
  return value.map((item: unknown, index) => {
    if (typeof item !== 'string') throw typeError(`${name}[${index}]`, 'a non-empty string', item);
    if (item.length === 0) throw rangeError(`${name}[${index}]`, 'a non-empty string', item);
    return toWellFormed(item);
  });
}

/** Validates a required non-empty string argument (e.g. a model path). */
export function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw typeError(name, 'a non-empty string', value, 'argument');
  if (value.length === 0) throw rangeError(name, 'a non-empty string', value, 'argument');
  return value;
}

/** Validates a required string argument (may be empty). */
export function stringArgument(name: string, value: unknown): string {
  if (typeof value !== 'string') throw typeError(name, 'a string', value, 'argument');
  return value;
}

/**
 * Validates token ids and copies them into an `Int32Array` the native side may read off the
 * JS thread (a private copy, so later changes to the caller's array cannot race with it).
 * Ids outside `[0, vocabularySize)` would index past llama.cpp's vocabulary tables.
 *
 * @param name - the argument name for messages
 * @param value - an array (or typed array) of token ids
 * @param vocabularySize - the model's vocabulary size
 */
export function tokenIds(name: string, value: unknown, vocabularySize: number): Int32Array {
  const isList = Array.isArray(value) || value instanceof Int32Array || value instanceof Uint32Array;
  if (!isList) throw typeError(name, 'an array of token ids', value, 'argument');
  const list = value as ArrayLike<unknown>;
  const ids = new Int32Array(list.length);
  const expected = `a token id (an integer in [0, ${vocabularySize}))`;
  for (let index = 0; index < list.length; index++) {
    const id = list[index];
    if (typeof id !== 'number' || Number.isNaN(id)) throw typeError(`${name}[${index}]`, expected, id, 'argument');
    if (!Number.isInteger(id) || id < 0 || id >= vocabularySize) {
      throw rangeError(`${name}[${index}]`, expected, id, 'argument');
    }
    ids[index] = id;
  }
  return ids;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Replaces lone UTF-16 surrogates by U+FFFD. Text crosses into llama.cpp as UTF-8, where a
 * lone surrogate has no encoding; doing it here makes the behaviour explicit and testable.
 */
export function toWellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}
