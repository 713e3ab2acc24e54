/**
 * Which files of a repository a request means: globs (`include`), quantisation tags, and the
 * parts of split GGUF files, which only make sense as a set.
 * @internal
 */
import { LlamaError } from '../errors.js';

/** `name-00001-of-00003.gguf`: llama.cpp's `gguf-split` naming. */
const SPLIT = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;

/** The parts of a split GGUF file, or undefined for a file that is not one. */
export function splitInfo(path: string): { prefix: string; index: number; count: number } | undefined {
  const match = SPLIT.exec(path);
  if (!match) return undefined;
  const index = Number(match[2]);
  const count = Number(match[3]);
  return index >= 1 && count >= 1 && index <= count ? { prefix: match[1]!, index, count } : undefined;
}

/** All parts of the set when `path` is the first part of a split GGUF, else just `path`. */
export function expandSplitSet(path: string): string[] {
  const info = splitInfo(path);
  if (!info || info.index !== 1) return [path];
  const pad = (n: number) => String(n).padStart(5, '0');
  return Array.from({ length: info.count }, (_, i) => `${info.prefix}-${pad(i + 1)}-of-${pad(info.count)}.gguf`);
}

/** Whether a glob has wildcard characters (else it names one file and needs no listing). */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/**
 * fnmatch-style glob, as huggingface_hub's `allow_patterns` and `huggingface-cli --include`
 * read it: `*` matches anything (slashes too), `?` one character, `[...]` a class.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i]!;
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) source += '\\[';
      else {
        let body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        source += `[${body}]`;
        i = end;
      }
    } else source += char.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

const GGUF = /\.gguf$/i;
/** Multimodal projectors share a repo with the model but are never "the" model file. */
const PROJECTOR = /(^|\/)mmproj/i;
/** Quantisation names as they appear in GGUF file names (llama.cpp's types and common labels). */
const QUANT_IN_NAME =
  /(?:^|[^A-Za-z0-9])((?:UD-)?(?:I?Q[1-8](?:_[A-Z0-9]+)*|TQ[12]_0|MXFP4(?:_MOE)?|BF16|F16|FP16|F32|FP32))(?=$|[^A-Za-z0-9_])/gi;

/** The file name without folders, `.gguf` and the split suffix: where a quant tag is looked for. */
function stem(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const split = splitInfo(base);
  return split ? split.prefix : base.replace(GGUF, '');
}

/** The quantisation named in a GGUF file name (upper case), if any: the last one wins. */
export function quantOf(path: string): string | undefined {
  const found = [...stem(path).matchAll(QUANT_IN_NAME)].map((m) => m[1]!.toUpperCase());
  return found.at(-1);
}

/**
 * Whether a GGUF file is of quantisation `quant`: the tag appears in the file name
 * (case-insensitive) as a whole token, so `Q4_K` does not match `Q4_K_M`.
 */
export function matchesQuant(path: string, quant: string): boolean {
  if (!GGUF.test(path) || PROJECTOR.test(path)) return false;
  const name = stem(path).toLowerCase();
  const tag = quant.toLowerCase();
  for (let at = name.indexOf(tag); at !== -1; at = name.indexOf(tag, at + 1)) {
    const before = name[at - 1];
    const after = name[at + tag.length];
    if ((before === undefined || !/[a-z0-9]/.test(before)) && (after === undefined || !/[a-z0-9_]/.test(after))) return true;
  }
  return false;
}

/** The model files (GGUF, no projectors) of a listing, one entry per file or split set. */
export function modelFiles(listing: readonly string[]): string[] {
  return listing.filter((path) => GGUF.test(path) && !PROJECTOR.test(path) && (splitInfo(path)?.index ?? 1) === 1).sort();
}

/** The quantisations present in a listing, sorted, for error messages. */
export function availableQuants(listing: readonly string[]): string[] {
  const quants = new Set<string>();
  for (const path of modelFiles(listing)) {
    const quant = quantOf(path);
    if (quant) quants.add(quant);
  }
  return [...quants].sort();
}

/** "a.gguf (Q4_K_M), b-00001-of-00002.gguf (Q8_0, 2 parts)": the GGUF files a user could ask for. */
export function describeModelFiles(listing: readonly string[], limit = 40): string {
  const files = modelFiles(listing);
  if (files.length === 0) return 'the repository has no GGUF files';
  const shown = files.slice(0, limit).map((path) => {
    const notes = [quantOf(path), splitInfo(path) ? `${splitInfo(path)!.count} parts` : undefined].filter(Boolean);
    return notes.length > 0 ? `${path} (${notes.join(', ')})` : path;
  });
  const more = files.length > limit ? `, and ${files.length - limit} more` : '';
  return `GGUF files in the repository: ${shown.join(', ')}${more}`;
}

/** What the caller asked for, after parsing the reference and the options. */
export interface FileRequest {
  file?: string;
  quant?: string;
  include?: readonly string[];
}

/** llama.cpp's default when `-hf org/repo` names no quantisation. */
export const DEFAULT_QUANT = 'Q4_K_M';

/** Whether the request can be answered without listing the repository (names files only). */
export function namedFiles(request: FileRequest): string[] | undefined {
  if (request.file !== undefined) return expandSplitSet(request.file);
  if (request.include && request.include.every((pattern) => !isGlob(pattern))) return unique(request.include.flatMap(expandSplitSet));
  return undefined;
}

/**
 * Chooses the files for a request from a repository listing, split sets expanded and in order.
 * @param where - "org/repo at revision main" (and "(offline cache)"), for messages
 * @throws LlamaError ERR_NOT_FOUND naming what exists instead
 */
export function selectFiles(listing: readonly string[], request: FileRequest, where: string): string[] {
  const named = namedFiles(request);
  if (named) return named;
  if (request.include) {
    const patterns = request.include.map(globToRegExp);
    const matched = [...listing].sort().filter((path) => patterns.some((re) => re.test(path)));
    if (matched.length === 0) {
      throw new LlamaError('ERR_NOT_FOUND', `No file of ${where} matches ${request.include.map((p) => JSON.stringify(p)).join(', ')}. ${describeModelFiles(listing)}.`);
    }
    return unique(matched.flatMap(expandSplitSet));
  }
  const quant = request.quant ?? DEFAULT_QUANT;
  const candidates = modelFiles(listing.map((p) => (splitInfo(p) ? expandSplitSet(p)[0]! : p))).filter((p) => matchesQuant(p, quant));
  let chosen = candidates[0];
  // No quant asked and no Q4_K_M file: a repository with one model file has one answer.
  if (chosen === undefined && request.quant === undefined && modelFiles(listing).length === 1) chosen = modelFiles(listing)[0];
  if (chosen === undefined) {
    const quants = availableQuants(listing);
    const asked = request.quant === undefined ? `no quantisation was named and there is no ${DEFAULT_QUANT} file` : `no GGUF file of quantisation ${quant}`;
    const choose = quants.length > 0 ? `Available quantisations: ${quants.join(', ')} (ask for one as "${where.split(' ')[0]}:${quants[0]}")` : describeModelFiles(listing);
    throw new LlamaError('ERR_NOT_FOUND', `${where}: ${asked}. ${choose}.`);
  }
  const parts = expandSplitSet(chosen);
  const missing = parts.filter((part) => !listing.includes(part));
  if (missing.length > 0) {
    throw new LlamaError('ERR_NOT_FOUND', `${where}: the split model ${chosen} is incomplete; missing ${missing.join(', ')}.`);
  }
  return parts;
}

function unique(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}
