/**
 * runServer(): what `llama-napi serve` runs. Starts a server, prints one "listening" line to
 * stderr, and shuts down in order on SIGTERM or SIGINT; a second signal aborts what is still
 * running at once.
 */
import { createServer, type ServerAddress } from './server.js';
import type { ServerOptions } from './options.js';

/** Options of {@link runServer}: the server's options plus where to listen. */
export interface RunServerOptions extends ServerOptions {
  /** Interface to bind. Default `127.0.0.1` (this machine only); `0.0.0.0` or `::` for every interface. */
  host?: string;
  /** Port. Default `8080`; `0` picks a free one. */
  port?: number;
  /** Called once listening (e.g. to print more than the one line). */
  onListening?: (address: ServerAddress) => void;
  /** Where the "listening" line goes. Default: stderr. `null` prints nothing. */
  print?: ((line: string) => void) | null;
}

/**
 * Runs an OpenAI-compatible server (see {@link createServer}) until SIGTERM or SIGINT, then
 * shuts it down (running requests get `shutdownTimeoutMs` to finish) and resolves; nothing is
 * left holding the event loop, so the process then exits with code 0 on its own. `apiKey`
 * defaults to the `LLAMA_NAPI_API_KEY` environment variable when that is set.
 *
 * @throws when the options are invalid, the model fails to load, or the port cannot be bound
 */
export async function runServer(options: RunServerOptions): Promise<void> {
  const { host, port, onListening, print, apiKey, ...rest } = options;
  const key = apiKey ?? (process.env['LLAMA_NAPI_API_KEY'] || undefined);
  const server = createServer({ ...rest, ...(key === undefined ? {} : { apiKey: key }) });
  let address: ServerAddress;
  try {
    address = await server.listen(port, host);
  } catch (error) {
    await server.close({ timeoutMs: 0 });
    throw error;
  }
  const write = print === undefined ? (line: string) => process.stderr.write(`${line}\n`) : print;
  write?.(`llama-napi: listening on ${address.url}`);
  onListening?.(address);

  await new Promise<void>((resolve, reject) => {
    let signals = 0;
    const onSignal = (): void => {
      signals++;
      if (signals === 1) {
        options.logger?.('info', 'shutting down: finishing running requests');
        server
          .close()
          .finally(() => {
            process.off('SIGTERM', onSignal);
            process.off('SIGINT', onSignal);
          })
          .then(resolve, reject);
      } else {
        // Second signal: stop waiting for running requests.
        void server.close({ timeoutMs: 0 });
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
