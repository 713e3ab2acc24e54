// Loads a model and a context, uses them once, and never disposes them: the process must
// still exit by itself (no timer, handle or thread-safe function keeps the event loop alive).
import { loadModel } from '../../lib/model.js';

const [path] = process.argv.slice(2);
const model = await loadModel(path!);
const context = await model.createContext({ contextSize: 128, threads: 1 });
const result = await context.generate('Hello', { maxTokens: 2, temperature: 0 }).result;
console.log(JSON.stringify({ loaded: true, finishReason: result.finishReason }));
