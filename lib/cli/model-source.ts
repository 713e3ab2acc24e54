/**
 * `-m` / `-hf` → the path of a local GGUF file: a local file as is, a hub reference pulled on
 * first use (later runs find it in the cache).
 */
import { stat } from 'node:fs/promises';
import { CliFailure, UsageError } from './exit-codes.js';
import { pullModel, resolveModel } from '../hub/index.js';
import { isHubReference, modelFileOf, pullProgressReporter } from './hub.js';
import type { FlagValues } from './options.js';
import type { Terminal } from './terminal.js';

/**
 * The local model file the flags name.
 * @throws UsageError when no model is named; CliFailure when the file is missing or the pull fails
 */
export async function resolveModelPath(f: FlagValues, term: Terminal, command: string, signal?: AbortSignal): Promise<string> {
  const hfRepo = f.string('hfRepo');
  const model = f.string('model');
  if (hfRepo !== undefined && model !== undefined) throw new UsageError('give the model once: -m FNAME or -hf ORG/REPO[:QUANT], not both', command);
  if (hfRepo !== undefined) return pullForRun(hfRepo, f, term, signal);
  if (model === undefined) throw new UsageError('no model given: use -m FNAME (a GGUF file or hub reference) or -hf ORG/REPO[:QUANT]', command);
  if (await isHubReference(model)) return pullForRun(model, f, term, signal);
  return existingFile(model);
}

/** `path` if it is a regular file; a failure that says what is there instead. */
export async function existingFile(path: string): Promise<string> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new CliFailure(`llama-napi: model file not found: ${path}${error.code === 'ENOENT' ? '' : ` (${error.code})`}`);
  });
  if (!info.isFile()) throw new CliFailure(`llama-napi: not a file: ${path}`);
  return path;
}

/**
 * A hub reference → the local file: from the cache when it is there (no network at all, so a
 * pulled model runs offline and starts fast), else pulled now, with progress on stderr.
 */
async function pullForRun(ref: string, f: FlagValues, term: Terminal, signal?: AbortSignal): Promise<string> {
  let paths: string[];
  try {
    paths = await resolveModel(ref);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_NOT_FOUND') throw error;
    term.note(`llama-napi: ${ref} is not downloaded yet; pulling it from the Hugging Face hub`);
    const token = f.string('hfToken');
    paths = await pullModel(ref, { ...(token === undefined ? {} : { token }), onProgress: pullProgressReporter(term), ...(signal ? { signal } : {}) });
    term.clearProgress();
  }
  const path = modelFileOf(paths);
  if (path === undefined) throw new CliFailure(`llama-napi: ${ref} has no GGUF file to load`);
  return path;
}
