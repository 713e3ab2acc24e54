// Counts this process's threads (Linux /proc/self/task) around a model load, a context's life
// and the model's dispose. Work that ran off the JS thread must leave no thread behind: an
// OpenMP team docked on a libuv worker (AMX weight conversion during the load) made every ggml
// barrier sleep in the kernel from then on (src/own_thread.h).
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { getBuildInfo } from '../../lib/build-info.js';
import { loadModel } from '../../lib/model.js';

const [path] = process.argv.slice(2);
const threads = (): number => readdirSync('/proc/self/task').length;

/** Threads that exit on their own (a freed OpenMP team is detached) take a moment to go. */
async function settledCount(target: number): Promise<number> {
  for (let i = 0; i < 100 && threads() > target; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return threads();
}

await stat(path!); // starts libuv's threadpool (all of its threads at once)
const before = threads();
const model = await loadModel(path!);
const afterLoad = await settledCount(before);
const context = await model.createContext({ contextSize: 128, threads: 2 });
const result = await context.generate('Hello', { maxTokens: 4, temperature: 0 }).result;
await context.dispose();
const afterContext = await settledCount(before);
await model.dispose();
const afterDispose = await settledCount(before);
const amx = /AMX_INT8 = 1/.test(getBuildInfo().systemInfo);
console.log(JSON.stringify({ before, afterLoad, afterContext, afterDispose, amx, generated: result.generatedTokens }));
