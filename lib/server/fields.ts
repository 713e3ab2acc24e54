/**
 * Type checks for request fields, with OpenAI's conventions: a field that is absent or `null`
 * is "not sent"; a present field of the wrong type or out of range is a 400 naming the field as
 * the client spelt it. Unknown fields are never an error (OpenAI ignores them too).
 */
import { invalidField } from './errors.js';

/** A parsed JSON request body. */
export type Body = Record<string, unknown>;

/** The body as an object, or 400. */
export function requestObject(value: unknown): Body {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidField('body', 'a JSON object', value);
  }
  return value as Body;
}

/** Whether the client sent `key` (present and not null). */
export function sent(body: Body, key: string): boolean {
  return body[key] !== undefined && body[key] !== null;
}

export function optionalNumber(body: Body, key: string, min: number, max: number, param = key): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalidField(param, `a number in [${min}, ${max}]`, value);
  }
  return value;
}

export function optionalInteger(body: Body, key: string, min: number, max: number, param = key): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidField(param, `an integer in [${min}, ${max}]`, value);
  }
  return value;
}

export function optionalBoolean(body: Body, key: string, param = key): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidField(param, 'a boolean', value);
  return value;
}

export function optionalString(body: Body, key: string, param = key): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidField(param, 'a string', value);
  return value;
}

export function optionalObject(body: Body, key: string, param = key): Body | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidField(param, 'an object', value);
  return value as Body;
}

/** Token ids: an array of integers in `[0, vocabularySize)`. */
export function tokenArray(value: unknown, param: string, vocabularySize: number): number[] {
  if (!Array.isArray(value)) throw invalidField(param, 'an array of token ids', value);
  for (const [i, token] of value.entries()) {
    if (typeof token !== 'number' || !Number.isInteger(token) || token < 0 || token >= vocabularySize) {
      throw invalidField(`${param}[${i}]`, `a token id in [0, ${vocabularySize})`, token);
    }
  }
  return value as number[];
}

/** Text that llama.cpp's C strings can carry: NUL characters are a 400, not a silent cut. */
export function cText(value: string, param: string): string {
  if (value.includes('\0')) throw invalidField(param, 'text without NUL characters');
  return value;
}
