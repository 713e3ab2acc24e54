/**
 * `llama-napi pull REF [FILE…] [--include GLOB]… [--local-dir DIR] [--revision REV] [--token T]`:
 * downloads a model through lib/hub's pullModel (resumable, verified, into the shared Hugging
 * Face cache or DIR). Progress goes to stderr; the local paths, one per line, to stdout, so
 * `llama-napi run -m "$(llama-napi pull org/repo:Q4_K_M | head -1)"` works.
 */
import { parseArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { PULL_FLAGS } from './flags.js';
import { commandHelp } from './help.js';
import { pullModel, type PullModelOptions } from '../hub/index.js';
import { pullProgressReporter } from './hub.js';
import type { Terminal } from './terminal.js';

/** Runs `llama-napi pull ARGS…`; resolves to the exit code. */
export async function pullCommand(argv: readonly string[], term: Terminal): Promise<number> {
  const args = parseArgs(argv, PULL_FLAGS, 'pull');
  if (args.flags['help']) {
    term.out(commandHelp('pull'));
    return EXIT.ok;
  }
  if (args.positionals.length === 0) throw new UsageError('pull needs a model reference, e.g. llama-napi pull org/repo:Q4_K_M', 'pull');
  // huggingface-cli download's form: REPO FILE… (the file names as exact includes).
  const [ref, ...files] = args.positionals as [string, ...string[]];
  const str = (key: string): string | undefined => (typeof args.flags[key] === 'string' ? (args.flags[key] as string) : undefined);
  const include = [...files, ...(Array.isArray(args.flags['include']) ? args.flags['include'] : [])];
  const options: PullModelOptions = { onProgress: pullProgressReporter(term) };
  if (include.length > 0) options.include = include;
  const symlinks = str('localDirUseSymlinks');
  if (symlinks !== undefined && !/^(false|auto)$/i.test(symlinks)) {
    term.note('llama-napi: --local-dir-use-symlinks is ignored: --local-dir always gets real files (as huggingface-cli does today)');
  }
  const revision = str('revision');
  if (revision !== undefined) options.revision = revision;
  const localDir = str('localDir');
  if (localDir !== undefined) options.localDir = localDir;
  const token = str('token');
  if (token !== undefined) options.token = token;

  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.on('SIGINT', onSigint);
  try {
    const paths = await pullModel(ref, { ...options, signal: controller.signal });
    term.clearProgress();
    if (args.flags['json']) term.out(`${JSON.stringify({ ref, paths })}\n`);
    else term.out(paths.map((p) => `${p}\n`).join(''));
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
