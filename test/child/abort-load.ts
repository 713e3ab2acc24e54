// Aborts a model load from its first progress report and reports the error code; then loads
// the same file again to show nothing was left half-initialised.
import { loadModel } from '../../lib/model.js';

const [path] = process.argv.slice(2);
const controller = new AbortController();
let code: string | undefined;
try {
  const model = await loadModel(path!, { onProgress: () => controller.abort(), signal: controller.signal });
  await model.dispose(); // the load finished before it noticed the abort
  code = 'loaded';
} catch (error) {
  code = (error as { code?: string }).code;
}
const again = await loadModel(path!);
await again.dispose();
console.log(JSON.stringify({ code, reloaded: true }));
