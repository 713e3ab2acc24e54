// Disposes the context or the model at a chosen moment of a generation and reports how the
// generation ended. Run in a child process: a use-after-free would kill it with a signal.
//   argv: <model path> <what: context|model> <when: queued|prompt|streaming>
import { loadModel } from '../../lib/model.js';

const [path, what, when] = process.argv.slice(2);
const model = await loadModel(path!);
// A long budget on a tiny (fast) model, so disposal happens while native work is running.
const context = await model.createContext({ contextSize: 2048, threads: 1 });
const dispose = (): Promise<void> => (what === 'model' ? model.dispose() : context.dispose());

// `queued`: a second generation waits behind the first when disposal happens.
const first = context.generate('Once upon a time', { maxTokens: 2000, temperature: 0 });
const second = when === 'queued' ? context.generate('Another prompt', { maxTokens: 4, temperature: 0 }) : undefined;

let chunks = 0;
let iterationError: { code?: string } | undefined;
let disposal: Promise<void> | undefined;
if (when === 'prompt' || when === 'queued') disposal = dispose();
try {
  for await (const _chunk of first) {
    chunks++;
    if (when === 'streaming' && chunks === 2) disposal = dispose();
  }
} catch (error) {
  iterationError = error as { code?: string };
}
const settle = (p: Promise<unknown> | undefined) =>
  p?.then(
    (value) => ({ ok: true, finishReason: (value as { finishReason?: string } | undefined)?.finishReason }),
    (error: { code?: string }) => ({ ok: false, code: error.code }),
  );
const [firstResult, secondResult] = await Promise.all([settle(first.result), settle(second?.result)]);
await disposal;
// Everything is disposed; using it now must be a clean error, not a crash.
let afterwards: string | undefined;
try {
  context.generate('x');
} catch (error) {
  afterwards = (error as { code?: string }).code;
}
await model.dispose();
console.log(
  JSON.stringify({
    chunks,
    iterationError: iterationError?.code,
    first: firstResult,
    second: secondResult,
    contextDisposed: context.disposed,
    modelDisposed: model.disposed,
    afterwards,
  }),
);
