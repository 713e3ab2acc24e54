// A context larger than the memory this machine has available, with no limit set: the
// pre-check must refuse it; without it the allocation could succeed and the kernel's OOM
// killer end the process on first touch. Run in a child so that such a failure kills only it.
//   argv: <model path> <contextSize> <sequences>
import { hostMemory } from '../../lib/memory-limits.js';
import { loadModel } from '../../lib/model.js';

const [path, contextSize, sequences] = process.argv.slice(2);
const model = await loadModel(path!);
const host = hostMemory();
const started = performance.now();
let report: Record<string, unknown>;
try {
  await model.createContext({ contextSize: Number(contextSize), sequences: Number(sequences), batchSize: 64, threads: 1 });
  report = { ok: true };
} catch (error) {
  const e = error as Record<string, unknown> & Error;
  report = { ok: false, code: e.code, stage: e['stage'], needed: e['needed'], available: e['available'], limitedBy: e['limitedBy'], message: e.message };
}
const ms = performance.now() - started;
const peakRss = Number(/^VmHWM:\s+(\d+) kB$/m.exec(await import('node:fs').then((fs) => fs.readFileSync('/proc/self/status', 'utf8')))![1]) * 1024;
await model.dispose();
console.log(JSON.stringify({ host, ms, peakRss, ...report }));
