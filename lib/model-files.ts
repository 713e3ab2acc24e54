/**
 * The files of a model: one GGUF, or a split set (`name-00001-of-00003.gguf` …, as
 * llama.cpp's gguf-split writes them and the hub serves them). llama.cpp loads a split model
 * from its first part and opens the others by name; every part's header is read and checked
 * here first, so that a missing, foreign or broken part is a coded error before llama.cpp
 * parses it.
 */
import { stat } from 'node:fs/promises';
import { readGguf, type GgufFile } from './gguf/index.js';

/** The headers of every part of a model, first part first. */
export interface ModelFiles {
  /** The first part (all of a model that is not split): its metadata describes the model. */
  readonly first: GgufFile;
  /** Every part, in order (one for a model that is not split). */
  readonly parts: readonly GgufFile[];
  /** Their paths, in order. */
  readonly paths: readonly string[];
  /** Bytes of all parts together. */
  readonly fileSize: number;
}

/** Most parts of a split model (llama.cpp stores the count in a uint16). */
const MAX_SPLITS = 65535;

function uint(file: GgufFile, key: string): number | undefined {
  const v = file.metadata[key]?.value;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/** llama.cpp's `llama_split_path`: `<prefix>-%05d-of-%05d.gguf`, numbered from 1. */
export function splitPath(prefix: string, index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${prefix}-${pad(index + 1)}-of-${pad(count)}.gguf`;
}

/**
 * Reads the header of `path` and, for a split model, of every other part.
 * @throws Error (to be wrapped as ERR_MODEL_LOAD) naming the part and what is wrong with it
 */
export async function readModelFiles(path: string): Promise<ModelFiles> {
  const first = await readGguf(path);
  const count = uint(first, 'split.count') ?? 1;
  if (count <= 1) return { first, parts: [first], paths: [path], fileSize: first.fileSize };
  if (count > MAX_SPLITS) throw new Error(`split.count is ${count}, more than a split model can have (${MAX_SPLITS})`);
  const index = uint(first, 'split.no') ?? 0;
  const suffix = `-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`;
  if (index !== 0 || !path.endsWith(suffix)) {
    const expected = index === 0 ? `a name ending in ${suffix}` : 'the first part (-00001-of-…)';
    throw new Error(`"${path}" is part ${index + 1} of a ${count}-part split model: load ${expected}`);
  }
  const prefix = path.slice(0, -suffix.length);
  const paths = [path];
  const parts = [first];
  for (let i = 1; i < count; i++) {
    const partPath = splitPath(prefix, i, count);
    const exists = await stat(partPath).then((s) => s.isFile(), () => false);
    if (!exists) throw new Error(`part ${i + 1} of ${count} of the split model is missing: ${partPath}`);
    let part: GgufFile;
    try {
      part = await readGguf(partPath);
    } catch (error) {
      throw new Error(`part ${i + 1} of ${count} (${partPath}): ${(error as Error).message}`, { cause: error });
    }
    if (uint(part, 'split.no') !== i || uint(part, 'split.count') !== count) {
      throw new Error(`"${partPath}" does not say it is part ${i + 1} of ${count} (split.no / split.count)`);
    }
    paths.push(partPath);
    parts.push(part);
  }
  const tensors = parts.reduce((n, p) => n + p.tensors.length, 0);
  const declared = uint(first, 'split.tensors.count');
  if (declared !== undefined && declared !== tensors) {
    throw new Error(`the split model declares ${declared} tensors (split.tensors.count) but its ${count} parts hold ${tensors}`);
  }
  return { first, parts, paths, fileSize: parts.reduce((n, p) => n + p.fileSize, 0) };
}
