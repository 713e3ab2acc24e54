/**
 * Validation of the constraint options of {@link Context.generate}: `grammar` (GBNF text),
 * `jsonSchema` and `logitBias`. Pure policy: whether a grammar compiles is the addon's answer
 * (`ERR_GRAMMAR` when the job starts), see lib/grammar.ts.
 */
import { INT32_MAX, rangeError, toWellFormed, typeError, type ValueKind } from '../validate.js';

/**
 * A JSON schema, as a plain object. llama.cpp converts this subset: `type`, `properties`,
 * `required`, `additionalProperties`, `items`, `prefixItems`, `minItems`/`maxItems`, `enum`,
 * `const`, `anyOf`/`oneOf`/`allOf`, `$ref` to a pointer inside the schema (`#/$defs/…`),
 * string `minLength`/`maxLength`/`pattern`/`format` (date, time, date-time, uuid), integer
 * `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`; other keywords are ignored.
 */
export type JsonSchema = { readonly [keyword: string]: unknown };

/**
 * Biases added to token logits: token id → bias, as an object (`{ 13: -Infinity }`), a `Map`,
 * or an array of `[token, bias]` pairs (repeated tokens add up).
 */
export type LogitBias =
  | { readonly [token: number]: number }
  | ReadonlyMap<number, number>
  | ReadonlyArray<readonly [number, number]>;

/** Largest bias magnitude besides `-Infinity` (biases are 32-bit floats in llama.cpp). */
export const MAX_LOGIT_BIAS = 1e30;

/** Validated `logitBias`: one `[token, bias]` per token, repeated tokens summed. @internal */
export type LogitBiasEntries = ReadonlyArray<readonly [token: number, bias: number]>;

/** Validates the `grammar` option: any string (an empty or invalid one fails with `ERR_GRAMMAR` when the job starts). @internal */
export function grammarOption(value: unknown): string {
  if (typeof value !== 'string') throw typeError('grammar', 'a GBNF grammar string', value);
  return toWellFormed(value);
}

/** Validates the `jsonSchema` option; returns the schema as JSON text (a snapshot). @internal */
export function jsonSchemaOption(value: unknown): string {
  return schemaJson('jsonSchema', value, 'option');
}

/** A schema option or argument as JSON text (a snapshot). @internal */
export function schemaJson(name: string, value: unknown, kind: ValueKind): string {
  const expected = 'a JSON schema object';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw typeError(name, expected, value, kind);
  let text: unknown;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    // A cycle or a BigInt somewhere inside.
    throw typeError(name, `${expected} that JSON.stringify accepts (${(error as Error).message})`, value, kind);
  }
  if (typeof text !== 'string' || !text.startsWith('{')) throw typeError(name, `${expected} (its toJSON() must give an object)`, value, kind);
  return text;
}

/** Validates the `logitBias` option (token ids are checked against the vocabulary later). @internal */
export function logitBiasOption(value: unknown): LogitBiasEntries {
  const merged = new Map<number, number>();
  const add = (token: number, bias: number): void => {
    merged.set(token, (merged.get(token) ?? 0) + bias);
  };
  if (value instanceof Map) {
    for (const [key, bias] of value) {
      const token = tokenId('logitBias', key);
      add(token, biasValue(`logitBias[${token}]`, bias));
    }
  } else if (Array.isArray(value)) {
    value.forEach((pair: unknown, index) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw typeError(`logitBias[${index}]`, 'a [token, bias] pair', pair);
      add(tokenId(`logitBias[${index}][0]`, pair[0]), biasValue(`logitBias[${index}][1]`, pair[1]));
    });
  } else if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    for (const key of Object.keys(value)) {
      // Object keys are strings: only the canonical spelling of a token id is one.
      if (!/^(0|[1-9][0-9]*)$/.test(key)) throw typeError('logitBias', 'token ids (non-negative integers) as keys', key);
      const token = tokenId('logitBias', Number(key));
      add(token, biasValue(`logitBias[${key}]`, (value as Record<string, unknown>)[key]));
    }
  } else {
    throw typeError('logitBias', 'an object, a Map or an array of [token, bias] pairs', value);
  }
  return Object.freeze([...merged].map(([token, bias]) => Object.freeze([token, bias] as const)));
}

function tokenId(name: string, value: unknown): number {
  const expected = 'token ids (non-negative integers)';
  if (typeof value !== 'number' || Number.isNaN(value)) throw typeError(name, expected, value);
  if (!Number.isInteger(value) || value < 0 || value > INT32_MAX) throw rangeError(name, expected, value);
  return value;
}

function biasValue(name: string, value: unknown): number {
  const expected = `a number in [-${MAX_LOGIT_BIAS}, ${MAX_LOGIT_BIAS}] or -Infinity`;
  if (typeof value !== 'number' || Number.isNaN(value)) throw typeError(name, expected, value);
  if (value !== -Infinity && !(Math.abs(value) <= MAX_LOGIT_BIAS)) throw rangeError(name, expected, value);
  return value;
}

/**
 * Checks validated `logitBias` token ids against the model's vocabulary.
 * @throws RangeError - naming the option and the range of token ids
 * @internal
 */
export function checkLogitBiasTokens(entries: LogitBiasEntries, vocabularySize: number): void {
  for (const [token] of entries) {
    if (token >= vocabularySize) throw rangeError('logitBias', `token ids in [0, ${vocabularySize})`, token);
  }
}
