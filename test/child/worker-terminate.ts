// Starts a long generation in a worker_thread, terminates the worker once tokens flow, then
// checks that this (main) thread can still load and generate. A crash or hang in environment
// teardown (threads left running, callbacks into a dead environment) fails the parent test.
import { Worker } from 'node:worker_threads';
import { loadModel } from '../../lib/index.js';

const [path] = process.argv.slice(2);
const worker = new Worker(new URL('./worker-generate.mjs', import.meta.url), {
  workerData: { path, maxTokens: 100_000, contextSize: 2048 },
});
let received = 0;
await new Promise<void>((resolve, reject) => {
  worker.on('message', (m: { tokens: number[] }) => {
    received += m.tokens.length;
    if (received >= 3) resolve();
  });
  worker.on('error', reject);
});
const exitCode = await worker.terminate();

const model = await loadModel(path!);
const context = await model.createContext({ contextSize: 128, threads: 1 });
const after = await context.generate('Hello', { temperature: 0, maxTokens: 4 }).result;
await model.dispose();
console.log(JSON.stringify({ received, exitCode, after: after.generatedTokens }));
