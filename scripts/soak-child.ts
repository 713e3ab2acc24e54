// The child of scripts/soak.ts (run with --expose-gc): `cycles` load → context → generate →
// dispose cycles on one model file, contexts with 1–3 sequences generating at once, every other
// context disposed explicitly and the rest left to the model's dispose. Prints one JSON line of
// threads, file descriptors and RSS after the first cycle and after every `every` cycles.
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadModel } from '../lib/index.js';

const [path, cyclesArg, everyArg] = process.argv.slice(2);
const cycles = Number(cyclesArg);
const every = Number(everyArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (!path || !(cycles > 0) || !(every > 0) || !gc) throw new Error('usage: node --expose-gc soak-child.ts MODEL CYCLES EVERY');

async function cycle(i: number): Promise<void> {
  const model = await loadModel(path!);
  const sequences = 1 + (i % 3);
  const context = await model.createContext({ contextSize: 128 * sequences, sequences, threads: 2 });
  await Promise.all(Array.from({ length: sequences }, (_, s) => context.generate(`Hello ${s}`, { temperature: 0, maxTokens: 2 }).result));
  if (i % 2 === 0) await context.dispose();
  await model.dispose();
}

async function snapshot(cycle: number): Promise<{ cycle: number; threads: number; fds: number; rssMiB: number }> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await sleep(20);
  }
  return {
    cycle,
    threads: readdirSync('/proc/self/task').length,
    fds: readdirSync('/proc/self/fd').length,
    rssMiB: Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10,
  };
}

const rows = [];
for (let i = 0; i < cycles; i++) {
  await cycle(i);
  if (i === 0 || (i + 1) % every === 0) rows.push(await snapshot(i + 1));
}
console.log(JSON.stringify(rows));
