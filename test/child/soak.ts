// Runs load → context → generate → dispose cycles, then cycles whose objects are only dropped
// (garbage-collected, never disposed), and reports threads, file descriptors and RSS before and
// after. Needs --expose-gc. Prints one JSON line.
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadModel } from '../../lib/index.js';

const [path, cyclesArg] = process.argv.slice(2);
const cycles = Number(cyclesArg ?? 50);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const threads = (): number => readdirSync('/proc/self/task').length;
const fds = (): number => readdirSync('/proc/self/fd').length;
const rssMiB = (): number => process.memoryUsage().rss / 2 ** 20;

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await sleep(50);
  }
}

async function cycle(dispose: boolean): Promise<void> {
  const model = await loadModel(path!);
  const context = await model.createContext({ contextSize: 256, threads: 2 });
  await context.generate('Hello there', { temperature: 0, maxTokens: 2 }).result;
  if (dispose) await model.dispose();
}

// Memory is judged by growth across a second batch of cycles, after a first batch has
// brought the allocator to its working size: a leak keeps growing, caching does not.
const snapshot = () => ({ threads: threads(), fds: fds(), rss: rssMiB() });
await cycle(true);
await settle();
const baseline = snapshot();
for (let i = 0; i < cycles / 4; i++) await cycle(true);
await settle();
const disposedWarm = snapshot();
for (let i = 0; i < cycles; i++) await cycle(true);
await settle();
const disposedEnd = snapshot();
// Dropped objects are finalized by the GC in batches, so their plateau is higher.
for (let i = 0; i < cycles / 2; i++) await cycle(false);
await settle();
const droppedWarm = snapshot();
for (let i = 0; i < cycles / 2; i++) await cycle(false);
await settle();
await sleep(200);
await settle();
const droppedEnd = snapshot();
console.log(JSON.stringify({ cycles, baseline, disposedWarm, disposedEnd, droppedWarm, droppedEnd }));
