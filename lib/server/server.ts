/**
 * createServer(): the engine plus its request handler, as a function that mounts anywhere a
 * `node:http` handler does, with `listen()` / `close()` for running it on its own.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Engine } from './engine.js';
import { resolveServerOptions, SERVER_DEFAULTS, type ServerOptions } from './options.js';
import { createHandler } from './router.js';

/** Where a listening server can be reached. */
export interface ServerAddress {
  /** The bound address (`127.0.0.1`, `::`, …). */
  host: string;
  /** The bound port (the one picked when `listen(0)`). */
  port: number;
  /** `http://host:port` (IPv6 hosts in brackets), the base URL without `/v1`. */
  url: string;
}

/** Options of {@link LlamaServer.close}. */
export interface CloseOptions {
  /** How long running requests may finish before they are aborted, in ms. Default: the server's `shutdownTimeoutMs`. */
  timeoutMs?: number;
}

/**
 * An OpenAI-compatible server: callable as a `node:http` request handler (`http.createServer(server)`,
 * `app.use(server)` in Express), or run on its own with {@link LlamaServer.listen}.
 */
export interface LlamaServer {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The same request handler, as a property. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Settles once the model is loaded and the context created; rejects if that fails. Requests before then get 503. */
  readonly ready: Promise<void>;
  /** Loading, serving, or shutting down. */
  readonly state: 'loading' | 'ready' | 'failed' | 'closing' | 'closed';
  /** The `node:http` server made by {@link LlamaServer.listen}, if any. */
  readonly httpServer: Server | undefined;
  /**
   * Waits for the model, then listens on `host:port` (default `127.0.0.1:8080`; port `0` picks a
   * free one). Rejects if the model fails to load or the port cannot be bound.
   */
  listen(port?: number, host?: string): Promise<ServerAddress>;
  /**
   * Shuts down: stops accepting connections, refuses new requests (503), lets running ones
   * finish until `timeoutMs`, aborts the rest, closes every connection, and disposes the context
   * (and the model when the server loaded it from a path). Idempotent: later calls return the
   * same promise, and one with `timeoutMs: 0` aborts running requests at once.
   */
  close(options?: CloseOptions): Promise<void>;
}

/**
 * Creates an OpenAI-compatible HTTP server on the library's continuous-batching engine: one
 * context with `parallel` sequences shared by all requests, a bounded queue in front of it.
 * Returns at once; the model loads in the background (see {@link LlamaServer.ready}).
 *
 * ```js
 * const server = createServer({ model: './model.gguf', parallel: 4, context: { contextSize: 8192 } });
 * const { url } = await server.listen(8080);
 * ```
 *
 * @throws TypeError / RangeError (`ERR_INVALID_ARG`) for invalid options
 */
export function createServer(options: ServerOptions): LlamaServer {
  const engine = new Engine(resolveServerOptions(options));
  const handler = createHandler(engine);
  let httpServer: Server | undefined;
  let closing: Promise<void> | undefined;

  const listen = async (port: number = SERVER_DEFAULTS.port, host: string = SERVER_DEFAULTS.host): Promise<ServerAddress> => {
    if (httpServer !== undefined || closing !== undefined) {
      throw Object.assign(new Error(closing ? 'The server is closed' : 'The server is already listening'), { code: 'ERR_INVALID_ARG' });
    }
    await engine.ready;
    const server = createHttpServer(handler);
    httpServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { host: address.address, port: address.port, url: `http://${shown}:${address.port}` };
  };

  const close = (closeOptions: CloseOptions = {}): Promise<void> => {
    if (closing !== undefined && closeOptions.timeoutMs === 0) void engine.close(0); // cut the grace period short
    closing ??= (async () => {
      const server = httpServer;
      const closed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
      server?.closeIdleConnections();
      await engine.close(closeOptions.timeoutMs);
      // Keep-alive connections idle between requests would hold the port and the process.
      server?.closeAllConnections();
      await closed;
    })();
    return closing;
  };

  return Object.defineProperties(((req: IncomingMessage, res: ServerResponse) => handler(req, res)) as LlamaServer, {
    handler: { value: handler, enumerable: true },
    ready: { value: engine.ready, enumerable: true },
    state: { get: () => engine.state, enumerable: true },
    httpServer: { get: () => httpServer, enumerable: true },
    listen: { value: listen, enumerable: true },
    close: { value: close, enumerable: true },
  });
}
