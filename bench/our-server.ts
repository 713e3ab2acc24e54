/**
 * Our side of the server benchmark, as its own process: `runServer` (what `llama-napi serve`
 * runs) plus an event-loop delay monitor, driven over the IPC channel of `child_process.fork`
 * by server-bench.ts. A process of its own, like llama-server: the load generator's event loop
 * must not share a thread with the server it measures.
 *
 * argv[2]: JSON `{ model, parallel, contextSize, threads, batchSize, ubatchSize }`.
 * Messages in: `{ type: 'loop-reset' }` (restart the histogram) and `{ type: 'loop-report' }`
 * (answered with `{ type: 'loop', p50Ms, p99Ms, maxMs, meanMs }`). Out: `{ type: 'listening',
 * url }` once it listens. SIGTERM shuts it down (runServer's own handling).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runServer } from '../lib/index.js';

interface ChildConfig {
  model: string;
  parallel: number;
  contextSize: number;
  threads: number;
  batchSize: number;
  ubatchSize: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const send = (message: Record<string, unknown>): void => {
  if (process.connected) process.send?.(message);
};

// 1 ms resolution, as the other benchmarks' event-loop figures (each sample includes that period).
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
process.on('message', (message: { type?: string }) => {
  if (message.type === 'loop-reset') {
    loop.reset();
    send({ type: 'loop-reset' });
  } else if (message.type === 'loop-report') {
    send({
      type: 'loop',
      p50Ms: loop.percentile(50) / 1e6,
      p99Ms: loop.percentile(99) / 1e6,
      maxMs: loop.max / 1e6,
      meanMs: loop.mean / 1e6,
      samples: loop.count,
    });
  }
});

await runServer({
  model: config.model,
  parallel: config.parallel,
  context: {
    contextSize: config.contextSize,
    threads: config.threads,
    threadsBatch: config.threads,
    batchSize: config.batchSize,
    ubatchSize: config.ubatchSize,
    flashAttention: 'auto',
  },
  host: '127.0.0.1',
  port: 0,
  print: null,
  onListening: (address) => send({ type: 'listening', url: address.url }),
});
loop.disable();
if (process.connected) process.disconnect();
