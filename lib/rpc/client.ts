/**
 * The client side of llama.cpp's RPC backend: before llama.cpp is asked to connect to a server
 * (whose vendored client would meet an unreachable one with a failure deep in the load), each
 * endpoint gets a TCP connection and the protocol's HELLO handshake here, with a timeout; then
 * the addon registers the servers' devices with ggml.
 * @internal
 */
import { connect } from 'node:net';
import { loadAddon } from '../addon.js';
import { callNative, LlamaError } from '../errors.js';
import { helloRequest, parseHelloReply, RPC_PROTO_MAJOR, RPC_PROTO_MINOR, type RpcEndpoint } from './endpoint.js';

/** What a server answered to HELLO. */
export interface RpcServerVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/**
 * Connects to `endpoint`, says HELLO and closes: resolves with the server's protocol version,
 * rejects with `ERR_RPC` naming the endpoint when it is unreachable, refuses, does not answer
 * within `timeoutMs` (a hung server, or one busy with another client: a server serves one
 * client at a time) or answers something else.
 */
export function probeRpcServer(endpoint: RpcEndpoint, timeoutMs: number): Promise<RpcServerVersion> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let settled = false;
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    const finish = (error: string | undefined, version?: RpcServerVersion): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error === undefined) resolve(version!);
      else reject(new LlamaError('ERR_RPC', `RPC server ${endpoint.text}: ${error}`));
    };
    const timer = setTimeout(
      () =>
        finish(
          `no answer within ${timeoutMs} ms (unreachable, hung, or serving another client: a server serves one at a time); check that rpc-server runs there and nothing else uses it`,
        ),
      timeoutMs,
    );
    socket.on('connect', () => socket.write(helloRequest()));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      let version: RpcServerVersion | undefined;
      try {
        version = parseHelloReply(received);
      } catch (error) {
        finish((error as Error).message);
        return;
      }
      if (version === undefined) return;
      if (version.major !== RPC_PROTO_MAJOR || version.minor > RPC_PROTO_MINOR) {
        finish(
          `speaks RPC protocol ${version.major}.${version.minor}.${version.patch}, this build ${RPC_PROTO_MAJOR}.${RPC_PROTO_MINOR}.x: run an rpc-server of the same llama.cpp version`,
        );
      } else {
        finish(undefined, version);
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const what = error.code === 'ECONNREFUSED' ? 'connection refused (is rpc-server running on that port?)' : error.message;
      finish(what);
    });
    socket.on('close', () => finish('closed the connection during the handshake (not an RPC server, or it refused this client)'));
  });
}

/**
 * Probes every endpoint (in parallel; ones this process is already connected to are healthy
 * and busy with us, so they are not probed again), then registers them with ggml. Rejects with
 * the first failure, `ERR_RPC`.
 */
export async function connectRpcServers(endpoints: readonly RpcEndpoint[], timeoutMs: number): Promise<void> {
  const addon = loadAddon();
  await Promise.all(endpoints.filter((e) => !addon.rpcConnected(e.text)).map((e) => probeRpcServer(e, timeoutMs)));
  await callNative(() => addon.rpcAddServers(endpoints.map((e) => e.text), timeoutMs), 'ERR_RPC');
}
