// Runs one pullModel() in a child process, for tests of two processes pulling one file.
// argv[2]: JSON { ref, options }. Prints one JSON line: { paths } or { error: { code, message } }.
// The environment (HF_ENDPOINT, HF_HUB_CACHE, …) comes from the parent.
import { pullModel } from '../../lib/hub/index.js';

const { ref, options } = JSON.parse(process.argv[2] ?? '{}') as { ref: string; options?: Record<string, unknown> };
try {
  const paths = await pullModel(ref, options);
  process.stdout.write(`${JSON.stringify({ paths })}\n`);
} catch (error) {
  const { code, message } = error as { code?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
}
