// Loads the addon under the environment the test gives (LLAMA_NAPI_BACKEND_PATH,
// LLAMA_NAPI_BACKENDS, LLAMA_NAPI_CPU_VARIANT), optionally generates a few tokens on the model
// given as argument, and reports getBuildInfo(), the warnings logged and the outcome.
import { getBuildInfo } from '../../lib/build-info.js';
import { setLogger } from '../../lib/logger.js';
import { loadModel } from '../../lib/model.js';

const [modelPath] = process.argv.slice(2);
const warnings: string[] = [];
setLogger((level, message) => {
  if (level === 'warn' || level === 'error') warnings.push(message);
});
try {
  const info = getBuildInfo();
  let text: string | undefined;
  if (modelPath) {
    await using model = await loadModel(modelPath);
    await using context = await model.createContext({ contextSize: 128, threads: 1 });
    text = (await context.generate('Hello', { maxTokens: 3, temperature: 0 }).result).text;
  }
  console.log(JSON.stringify({ ok: true, info, warnings, text }));
} catch (error) {
  const e = error as { code?: string; message?: string };
  console.log(JSON.stringify({ ok: false, code: e.code, message: e.message, warnings }));
}
