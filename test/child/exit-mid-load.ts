// process.exit() while a model is loading: the addon's 'exit' handler must abort the load and
// wait until its thread has left llama.cpp, before exit() runs static destructors. Reports how
// many loads were inside llama.cpp just before that handler ran and just after.
import { writeSync } from 'node:fs';
import { loadAddon } from '../../lib/addon.js';
import { loadModel } from '../../lib/model.js';

const [path] = process.argv.slice(2);
const report: { before?: number; after?: number; progress: number } = { progress: 0 };
// 'exit' listeners run in the order they were added: this one before the addon's own...
process.on('exit', () => {
  report.before = loadAddon().runningLoads();
});
loadAddon();
// ...and this one after it.
process.on('exit', () => {
  report.after = loadAddon().runningLoads();
  writeSync(1, `${JSON.stringify(report)}\n`);
});

let exiting = false;
await loadModel(path!, {
  useMmap: false,
  onProgress: (fraction) => {
    report.progress = fraction;
    if (exiting) return;
    exiting = true;
    process.exit(5);
  },
});
writeSync(1, `${JSON.stringify({ loadedBeforeExit: true })}\n`);
