// Tries to load one hostile file; reports the error's code and its cause's code.
import { loadModel } from '../../lib/model.js';

const [path] = process.argv.slice(2);
try {
  const model = await loadModel(path!);
  await model.dispose();
  console.log(JSON.stringify({ loaded: true }));
} catch (error) {
  const e = error as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  console.log(JSON.stringify({ loaded: false, name: e.name, code: e.code, causeCode: e.cause?.code, message: e.message }));
}
