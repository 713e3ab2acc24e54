/**
 * Model references: the one place that turns what a user types into a repository and a file
 * or a quantisation.
 *
 *     org/repo                       the repository (the file comes from `include`, or the default quant)
 *     org/repo:Q4_K_M                the GGUF file of that quantisation (llama.cpp's `-hf` form)
 *     org/repo/path/file.gguf        one file by its path in the repository
 *     hf:…  hf://…                   the same forms with a scheme, as llama.cpp and huggingface_hub write them
 */
import { rangeError } from '../validate.js';

/** A parsed model reference. */
export interface ModelRef {
  /** `org/name`. */
  repo: string;
  /** Path of one file in the repository, when the reference names one. */
  file?: string;
  /** Quantisation tag (e.g. `Q4_K_M`), when the reference names one. */
  quant?: string;
}

const EXPECTED_REF =
  'a model reference: "org/repo", "org/repo:Q4_K_M", "org/repo/path/file.gguf" (each optionally prefixed by "hf:")';

/** The hub's rule for user and repository names (no leading dot or dash, no "--" or ".."). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
/** A quantisation tag as written in file names: `Q4_K_M`, `IQ2_XXS`, `F16`, `UD-Q4_K_XL`. */
const QUANT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether `name` is a valid hub user, organisation or repository name. */
export function isValidRepoName(name: string): boolean {
  return NAME.test(name) && !name.includes('--') && !name.includes('..') && !name.endsWith('.') && !name.endsWith('-');
}

/**
 * Whether `path` is a safe relative file path inside a repository: no empty, `.` or `..`
 * segments, no backslashes, not absolute. Paths come from users and from hub responses, and
 * they become paths on disk, so one that could escape its folder is refused.
 */
export function isSafeRepoPath(path: string): boolean {
  if (path.length === 0 || path.length > 1024 || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/**
 * Parses a model reference (see the forms at the top of this file).
 * @throws RangeError (code ERR_INVALID_ARG) naming the accepted forms
 */
export function parseModelRef(ref: string): ModelRef {
  const invalid = () => rangeError('ref', EXPECTED_REF, ref, 'argument');
  let body = ref.trim();
  if (body.startsWith('hf://')) body = body.slice(5);
  else if (body.startsWith('hf:')) body = body.slice(3);

  let quant: string | undefined;
  const colon = body.indexOf(':');
  if (colon !== -1) {
    quant = body.slice(colon + 1);
    body = body.slice(0, colon);
    if (!QUANT.test(quant)) throw invalid();
  }

  const segments = body.split('/');
  if (segments.length < 2) throw invalid();
  const [org, name, ...rest] = segments as [string, string, ...string[]];
  if (!isValidRepoName(org) || !isValidRepoName(name)) throw invalid();
  const parsed: ModelRef = { repo: `${org}/${name}` };
  if (rest.length > 0) {
    // A file and a quantisation together would be two answers to one question.
    if (quant !== undefined) throw invalid();
    const file = rest.join('/');
    if (!isSafeRepoPath(file)) throw invalid();
    parsed.file = file;
  }
  if (quant !== undefined) parsed.quant = quant;
  return parsed;
}

/** Writes a reference back in its canonical form (for messages). */
export function formatModelRef(ref: ModelRef): string {
  if (ref.file !== undefined) return `${ref.repo}/${ref.file}`;
  return ref.quant !== undefined ? `${ref.repo}:${ref.quant}` : ref.repo;
}
