/**
 * `llama-napi serve`: llama-server's command line → the library's OpenAI-compatible server
 * (`runServer`). The model is resolved, checked against memory and loaded here, as `run` does
 * (progress bar, refusal with figures), then handed to the server, which creates its context
 * with `--parallel` sequences and runs until SIGTERM or Ctrl-C.
 */
import { runServer, setLogger, type Model, type RunServerOptions } from '../index.js';
import { parseArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { SERVE_GROUPS, flagsOf } from './flags.js';
import { commandHelp } from './help.js';
import { loadPlanned, noteLoaded, planFromFlags, type LoadPlan } from './load.js';
import { FlagValues, contextOptions, placementOptions } from './options.js';
import type { Terminal } from './terminal.js';

/** Runs `llama-napi serve ARGS…`; resolves to the exit code once the server has shut down. */
export async function serveCommand(argv: readonly string[], term: Terminal): Promise<number> {
  const args = parseArgs(argv, flagsOf(SERVE_GROUPS), 'serve');
  const f = new FlagValues(args, 'serve');
  if (f.flag('help')) {
    term.out(commandHelp('serve'));
    return EXIT.ok;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (the model goes after -m)`, 'serve');
  // Every value is checked before anything slow happens: a typo is a usage error, not a failed load.
  placementOptions(f);
  contextOptions(f, 0);
  const server = serverOptions(f);
  const burstWindow = bounded(f, 'burstWindow', 0, 1000);
  if (f.flag('verbose')) setLogger((level, message) => term.note(`${level}: ${message.trimEnd()}`), { level: 'debug' });

  // Ctrl-C while loading stops the load (exit 130); once listening, runServer owns the signals.
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  let model: Model;
  let plan: LoadPlan;
  try {
    plan = await planFromFlags(f, term, 'serve', controller.signal);
    const started = performance.now();
    model = await loadPlanned(plan, term, controller.signal);
    noteLoaded(term, model, plan.path, performance.now() - started);
  } finally {
    process.off('SIGINT', onSigint);
  }
  try {
    await runServer({
      ...server,
      model,
      context: burstWindow === undefined ? plan.context : { ...plan.context, burstWindowMs: burstWindow },
      logger: f.flag('verbose') ? (level, message) => term.note(`${level}: ${message}`) : undefined,
      print: (line) => term.note(line),
    });
    return EXIT.ok;
  } finally {
    await model.dispose();
  }
}

/** The server's own flags as {@link RunServerOptions} (the library validates their ranges). */
function serverOptions(f: FlagValues): Omit<RunServerOptions, 'model'> {
  const o: Omit<RunServerOptions, 'model'> = {};
  const host = f.string('host');
  if (host !== undefined) o.host = host;
  const port = bounded(f, 'port', 0, 65535);
  if (port !== undefined) o.port = port;
  const parallel = bounded(f, 'parallel', 1, 256);
  if (parallel !== undefined) o.parallel = parallel;
  const maxQueue = bounded(f, 'maxQueue', 0, 1_000_000);
  if (maxQueue !== undefined) o.maxQueue = maxQueue;
  const apiKey = f.string('apiKey');
  if (apiKey !== undefined) o.apiKey = apiKey;
  const cors = f.string('cors');
  if (cors !== undefined) o.cors = cors === '*' ? true : cors.split(',').map((origin) => origin.trim());
  if (f.flag('embeddings')) o.embeddings = true;
  const alias = f.string('alias');
  if (alias !== undefined) o.modelName = alias;
  const template = f.string('chatTemplate');
  if (template !== undefined) o.chatTemplate = template;
  return o;
}

/** An integer flag within [min, max], checked before the model loads. */
function bounded(f: FlagValues, key: string, min: number, max: number): number | undefined {
  const n = f.integer(key);
  if (n !== undefined && (n < min || n > max)) throw f.invalid(key, `an integer in [${min}, ${max}]`, String(n));
  return n;
}
