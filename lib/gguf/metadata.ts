/**
 * Helpers for moving metadata between files with its GGUF types intact.
 */
import type { GgufValue } from './types.js';
import { argTypeError } from '../validate.js';

/**
 * Picks metadata entries to write into another file, keeping file order and each value's
 * GGUF type (a vocabulary's `int32` token types stay `int32`). Array values are copied,
 * so the result can be changed without touching `source`.
 *
 * @param source - metadata as returned by {@link readGguf}
 * @param include - a key prefix (e.g. `'tokenizer.'`) or a predicate on the key
 * @returns `[key, value]` pairs for {@link writeGguf}
 */
export function copyMetadata(
  source: Readonly<Record<string, GgufValue>>,
  include: string | ((key: string) => boolean),
): Array<[string, GgufValue]> {
  const keep = typeof include === 'string' ? (key: string) => key.startsWith(include) : include;
  if (typeof keep !== 'function') throw argTypeError('include must be a key prefix or a function');
  const out: Array<[string, GgufValue]> = [];
  for (const key of Object.keys(source)) {
    if (!keep(key)) continue;
    const entry = source[key]!;
    out.push([key, entry.type === 'array' ? ({ ...entry, value: [...entry.value] } as GgufValue) : { ...entry }]);
  }
  return out;
}
