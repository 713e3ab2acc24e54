/**
 * An RPC server process for test/rpc.test.ts and bench/rpc-bench.ts: `startRpcServer`
 * (argv: port, default 0: a free one; cache folder, '' for none; threads, default 1; host, default
 * 127.0.0.1), one JSON line `{ "port", "endpoint", "pid" }` on stdout once it listens. It stops
 * and exits when its stdin closes, so that it never outlives the process that started it
 * (even one that crashed).
 */
import { startRpcServer } from '../../lib/index.js';

const port = Number(process.argv[2] ?? '0');
const cacheDir = process.argv[3];
const threads = Number(process.argv[4] ?? '1');
const host = process.argv[5] ?? '127.0.0.1';
const server = await startRpcServer({ host, port, threads, ...(cacheDir ? { cacheDir } : {}) });
process.stdout.write(`${JSON.stringify({ port: server.port, endpoint: server.endpoint, pid: process.pid })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void server.stop().then(() => process.exit(0));
});
process.stdin.on('error', () => process.exit(0));
