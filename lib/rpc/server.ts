/**
 * {@link startRpcServer}: llama.cpp's RPC server (ggml's `ggml_backend_rpc_start_server`, with
 * a stop added by vendor/patches/0004) on a native thread of its own.
 */
import { mkdirSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { loadAddon } from '../addon.js';
import { callNative, LlamaError } from '../errors.js';
import { log } from '../logger.js';
import { defaultThreads } from '../options/context.js';
import { integerOption, optionsObject, rangeError, typeError } from '../validate.js';
import { DEFAULT_RPC_PORT, exposedServerWarning, formatRpcEndpoint, isExposedHost } from './endpoint.js';

/** Options of {@link startRpcServer}. */
export interface RpcServerOptions {
  /**
   * IPv4 or IPv6 address to listen on (`'::'` for every IPv6 and, where the system allows, IPv4
   * address). Default `'127.0.0.1'` (this machine only). Any other address than `127.0.0.1` and
   * `::1` logs llama.cpp's warning: the protocol has no authentication and no encryption, so bind a
   * non-loopback address only on a trusted network (see docs/distributed.md for an SSH tunnel
   * or WireGuard instead).
   */
  host?: string;
  /** TCP port, an integer in [0, 65535]; `0` picks a free one (see {@link RpcServer.port}). Default `50052`, llama.cpp's. */
  port?: number;
  /**
   * Names of the devices to serve (from {@link listDevices}, e.g. `['CUDA0']`). Default as
   * llama.cpp's rpc-server: every GPU or accelerator, else the CPU.
   */
  devices?: readonly string[];
  /**
   * A folder where the server keeps tensors it has received, by hash (llama.cpp's `--cache`):
   * a client loading the same model again sends hashes instead of the weights. Created if
   * missing. Default: no cache.
   */
  cacheDir?: string;
  /** CPU threads for a CPU device, an integer `>= 1`. Default: as contexts (one per physical core). */
  threads?: number;
}

/** A running RPC server, from {@link startRpcServer}. */
export interface RpcServer {
  /** The address it listens on. */
  readonly host: string;
  /** The port it listens on (the one picked when `port: 0` was asked). */
  readonly port: number;
  /** `host:port` (`[host]:port` for IPv6), what a client's `rpcServers` lists. */
  readonly endpoint: string;
  /**
   * Stops listening, closes the client connection (a client then sees its server fail), ends
   * the server's thread and frees its devices' buffers. Idempotent; once it resolves, the server
   * no longer keeps the process alive.
   */
  stop(): Promise<void>;
}

/** `host`: a dotted IPv4 address or an IPv6 address (brackets allowed and dropped), as ggml binds it. */
function hostOption(value: unknown): string {
  const expected = 'an IPv4 or IPv6 address such as "127.0.0.1", "0.0.0.0", "::1" or "::"';
  if (typeof value !== 'string') throw typeError('host', expected, value);
  const bare = /^\[(.+)\]$/.exec(value)?.[1] ?? value;
  if (!isIPv4(bare) && !isIPv6(bare)) throw rangeError('host', expected, value);
  return bare;
}

/**
 * Serves this machine's devices to llama.cpp RPC clients (other processes' `loadModel(path, {
 * rpcServers })`, or llama.cpp's own `--rpc`) on `host:port`, on a native thread (never the
 * event loop). Resolves once the server listens; rejects with `ERR_RPC` when it cannot (the port
 * is taken, a device cannot start). A running server keeps the process alive until
 * {@link RpcServer.stop}. The server serves one client connection at a time, as llama.cpp's.
 *
 * @example
 * ```ts
 * const server = await startRpcServer({ port: 50052 });
 * process.once('SIGINT', () => void server.stop());
 * ```
 */
export async function startRpcServer(options?: RpcServerOptions): Promise<RpcServer> {
  const o = optionsObject(options, 'startRpcServer options', ['host', 'port', 'devices', 'cacheDir', 'threads']);
  const host = o.host === undefined ? '127.0.0.1' : hostOption(o.host);
  const port = o.port === undefined ? DEFAULT_RPC_PORT : integerOption('port', o.port, { min: 0, max: 65535 });
  let devices: string[] | undefined;
  if (o.devices !== undefined) {
    if (!Array.isArray(o.devices) || o.devices.some((d) => typeof d !== 'string' || d.length === 0)) {
      throw typeError('devices', 'an array of device names from listDevices()', o.devices);
    }
    devices = [...(o.devices as string[])];
  }
  let cacheDir: string | undefined;
  if (o.cacheDir !== undefined) {
    if (typeof o.cacheDir !== 'string' || o.cacheDir.length === 0) throw typeError('cacheDir', 'a folder path', o.cacheDir);
    cacheDir = o.cacheDir.endsWith('/') ? o.cacheDir : `${o.cacheDir}/`; // ggml appends file names
    try {
      mkdirSync(cacheDir, { recursive: true });
    } catch (error) {
      throw new LlamaError('ERR_RPC', `Cannot create the RPC cache folder ${cacheDir}: ${(error as Error).message}`, { cause: error });
    }
  }
  const threads = o.threads === undefined ? defaultThreads() : integerOption('threads', o.threads, { min: 1, max: 1024 });
  if (isExposedHost(host)) log('warn', exposedServerWarning(host));
  const addon = loadAddon();
  const native = await callNative(
    () =>
      addon.rpcStartServer({
        endpoint: formatRpcEndpoint(host, port),
        threads,
        ...(devices ? { devices } : {}),
        ...(cacheDir ? { cacheDir } : {}),
      }),
    'ERR_RPC',
  );
  let stopping: Promise<void> | undefined;
  return Object.freeze({
    host,
    port: native.port,
    endpoint: formatRpcEndpoint(host, native.port),
    stop: () => (stopping ??= native.stop()),
  });
}
