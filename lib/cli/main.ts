/**
 * `llama-napi`'s entry: picks the command, runs it, and turns every failure into one message
 * on stderr and a documented exit code (0 ok, 1 failure, 2 usage error, 130 interrupted).
 */
import { editDistance } from './args.js';
import { estimateCommand } from './estimate.js';
import { CliFailure, EXIT, UsageError } from './exit-codes.js';
import { COMMANDS, commandHelp, mainHelp } from './help.js';
import { infoCommand } from './info.js';
import { inspectCommand } from './inspect.js';
import { pullCommand } from './pull.js';
import { rpcServerCommand } from './rpc-server.js';
import { runCommand } from './run.js';
import { serveCommand } from './serve.js';
import { Terminal, type CliStreams } from './terminal.js';

/** The library's option names → the flags that set them, to word the library's range errors as flags. */
const FLAG_OF_OPTION: Readonly<Record<string, string>> = {
  contextSize: '-c', batchSize: '-b', ubatchSize: '-ub', threads: '-t', threadsBatch: '-tb', flashAttention: '-fa',
  kvCacheTypeK: '-ctk', kvCacheTypeV: '-ctv', gpuLayers: '-ngl', nCpuMoe: '--n-cpu-moe', tensorOverrides: '-ot',
  mainGpu: '-mg', splitMode: '-sm', tensorSplit: '-ts', rpcServers: '--rpc', rpcTimeout: '--rpc', maxTokens: '-n', temperature: '--temp', topK: '--top-k',
  topP: '--top-p', minP: '--min-p', repeatPenalty: '--repeat-penalty', repeatLastN: '--repeat-last-n', seed: '-s',
  grammar: '--grammar', jsonSchema: '--json-schema', stop: '-r', parallel: '--parallel', maxQueue: '--max-queue', burstWindowMs: '--burst-window',
  apiKey: '--api-key', cors: '--cors', modelName: '--alias', chatTemplate: '--chat-template', template: '--chat-template',
};

/**
 * Runs the command line `argv` (without `node` and the script).
 * @returns the exit code
 */
export async function main(argv: readonly string[], streams?: CliStreams): Promise<number> {
  const term = new Terminal(streams);
  try {
    return await dispatch(argv, term);
  } catch (error) {
    return report(error, term);
  }
}

async function dispatch(argv: readonly string[], term: Terminal): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith('-')) {
    // No command: `llama-napi`, `llama-napi --json` are `info` (as the first version had it).
    if (first === '--help' || first === '-h') {
      term.out(mainHelp());
      return EXIT.ok;
    }
    const named = argv.find((a) => !a.startsWith('-'));
    if (named !== undefined && named !== 'info') throw unknownCommand(named);
    return infoCommand(argv.filter((a) => a !== 'info'), term);
  }
  switch (first) {
    case 'run':
      return runCommand(rest, term);
    case 'serve':
      return serveCommand(rest, term);
    case 'pull':
      return pullCommand(rest, term);
    case 'inspect':
      return inspectCommand(rest, term);
    case 'estimate':
      return estimateCommand(rest, term);
    case 'info':
      return infoCommand(rest, term);
    case 'rpc-server':
      return rpcServerCommand(rest, term);
    case 'help':
      term.out(rest[0] && rest[0] in COMMANDS ? commandHelp(rest[0]) : mainHelp());
      return EXIT.ok;
    default:
      throw unknownCommand(first);
  }
}

function unknownCommand(name: string): UsageError {
  const names = Object.keys(COMMANDS);
  const closest = names.reduce((a, b) => (editDistance(name, a) <= editDistance(name, b) ? a : b));
  return new UsageError(`unknown command "${name}"; did you mean ${closest}? (commands: ${names.join(', ')})`);
}

/** Prints what went wrong, once, and picks the exit code. */
function report(error: unknown, term: Terminal): number {
  term.clearProgress();
  if (error instanceof UsageError) {
    term.note(`llama-napi: ${error.message}`);
    term.note(`see: llama-napi ${error.command ? `${error.command} ` : ''}--help`);
    return EXIT.usage;
  }
  if (error instanceof CliFailure) {
    term.note(error.message);
    return error.exitCode;
  }
  const e = error as Error & { code?: string; cause?: unknown };
  if (e?.code === 'ERR_INVALID_ARG') {
    // The library checks ranges (e.g. -c beyond the trained length); say it with the flag.
    const message = e.message.replace(/^Invalid option "(\w+)"/, (whole, option: string) =>
      FLAG_OF_OPTION[option] ? `invalid ${FLAG_OF_OPTION[option]} (${option})` : whole,
    );
    term.note(`llama-napi: ${message}`);
    return EXIT.usage;
  }
  if (e?.code === 'ERR_ABORTED') {
    term.note('llama-napi: interrupted');
    return EXIT.interrupted;
  }
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_')) {
    const cause = e.cause instanceof Error && !e.message.includes(e.cause.message) ? ` (${e.cause.message})` : '';
    term.note(`llama-napi: ${e.code}: ${e.message}${cause}`);
    return EXIT.failure;
  }
  term.note(`llama-napi: unexpected error: ${e?.stack ?? String(error)}`);
  return EXIT.failure;
}
