// Calls process.exit() (or raises SIGINT/SIGTERM with default handling replaced by exit) while
// the native loop is generating: the process must end promptly with the given code, no crash.
import { loadModel } from '../../lib/index.js';

const [path, how] = process.argv.slice(2);
const model = await loadModel(path!);
const context = await model.createContext({ contextSize: 2048, threads: 1 });
let seen = 0;
for await (const chunk of context.generate('Once upon a time', { temperature: 0, maxTokens: 100_000 })) {
  seen += chunk.tokens.length;
  if (seen >= 3) break;
}
// Start another long generation and leave it running while the process goes away.
const running = context.generate('Once upon a time', { temperature: 0, maxTokens: 100_000 });
for await (const _ of running) break;
const again = context.generate('Again', { temperature: 0, maxTokens: 100_000 });
void again.result.catch(() => {});
setTimeout(() => {
  if (how === 'sigint') {
    process.on('SIGINT', () => process.exit(7));
    process.kill(process.pid, 'SIGINT');
  } else {
    process.exit(7);
  }
}, 50);
