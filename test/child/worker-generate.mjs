// Runs inside a worker_thread (plain ESM over the compiled dist/, which `npm test` builds
// first): loads the model it is given and generates; reports tokens to the parent as they come.
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel } from '../../dist/index.js';

const { path, maxTokens, contextSize } = workerData;
const model = await loadModel(path);
const context = await model.createContext({ contextSize, threads: 1 });
const generation = context.generate('The quick brown fox', { temperature: 0, repeatPenalty: 1, maxTokens });
for await (const chunk of generation) parentPort.postMessage({ tokens: chunk.tokens });
const result = await generation.result;
parentPort.postMessage({ done: true, tokens: result.tokens });
await model.dispose();
