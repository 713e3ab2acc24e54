/**
 * `llama-napi rpc-server [--host HOST] [--port N] [--device DEV,…] [--cache DIR] [-t N]`:
 * llama.cpp's rpc-server through the library's {@link startRpcServer}, until SIGINT or SIGTERM.
 * A non-loopback host prints llama.cpp's own warning on stderr. One line on stdout once it
 * listens (`listening on HOST:PORT`), so scripts can wait for it and read a picked port.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setLogger, startRpcServer, type RpcServerOptions } from '../index.js';
import { exposedServerWarning, isExposedHost } from '../rpc/endpoint.js';
import { parseArgs } from './args.js';
import { EXIT, UsageError } from './exit-codes.js';
import { RPC_SERVER_FLAGS } from './flags.js';
import { commandHelp } from './help.js';
import { FlagValues } from './options.js';
import type { Terminal } from './terminal.js';

/** llama.cpp's cache folder for rpc-server -c: $LLAMA_CACHE, else $XDG_CACHE_HOME/llama.cpp, else ~/.cache/llama.cpp; then rpc/. */
export function defaultRpcCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['LLAMA_CACHE'] || join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'llama.cpp');
  return join(base, 'rpc');
}

/** Runs `llama-napi rpc-server ARGS…`; resolves to the exit code once the server has stopped. */
export async function rpcServerCommand(argv: readonly string[], term: Terminal): Promise<number> {
  const args = parseArgs(argv, RPC_SERVER_FLAGS, 'rpc-server');
  const f = new FlagValues(args, 'rpc-server');
  if (f.flag('help')) {
    term.out(commandHelp('rpc-server'));
    return EXIT.ok;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`, 'rpc-server');
  const options: RpcServerOptions = {};
  const host = f.string('host');
  if (host !== undefined) options.host = host;
  const port = f.integer('port');
  if (port !== undefined) options.port = port;
  const threads = f.integer('threads');
  if (threads !== undefined) options.threads = threads;
  const devices = f.string('device');
  if (devices !== undefined) options.devices = devices.split(',').map((d) => d.trim()).filter(Boolean);
  if (f.has('cache') && f.flag('cacheDefault')) throw new UsageError('--cache DIR and -c cannot be used together', 'rpc-server');
  const cache = f.string('cache') ?? (f.flag('cacheDefault') ? defaultRpcCacheDir() : undefined);
  if (cache !== undefined) options.cacheDir = cache;
  setLogger(
    f.flag('verbose') ? (level, message) => term.note(`${level}: ${message.trimEnd()}`) : (level, message) => {
      if (level === 'error') term.note(`error: ${message.trimEnd()}`);
    },
    { level: f.flag('verbose') ? 'debug' : 'error' },
  );
  // The signal handlers first: a script may signal as soon as it reads the "listening" line.
  let stopRequested!: () => void;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
  const onSignal = (): void => stopRequested();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const server = await startRpcServer(options);
    // The library logs its warning; the command line says it on stderr, as llama.cpp's tool does.
    if (isExposedHost(server.host)) term.note(exposedServerWarning(server.host));
    term.out(`listening on ${server.endpoint}${cache ? ` (tensor cache ${cache})` : ''}\n`);
    await stopped;
    await server.stop();
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
