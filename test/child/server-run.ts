// Child of test/server-run.test.ts: `runServer` as `llama-napi serve` runs it. Prints
// "PORT <n>" once listening and "CLOSED" once runServer has returned after a signal; the
// process must then exit 0 on its own (nothing left holding the event loop).
import { runServer } from '../../lib/server/index.js';

const [modelPath] = process.argv.slice(2);
await runServer({
  model: modelPath!,
  port: 0,
  context: { contextSize: 512, threads: 2 },
  shutdownTimeoutMs: 30_000,
  onListening: ({ port }) => process.stdout.write(`PORT ${port}\n`),
});
process.stdout.write('CLOSED\n');
