// Writes the small deterministic MoE test model to the path given, for the install check
// (.ci/install-check.sh), which runs outside the repository.
import { copyFile } from 'node:fs/promises';
import { fixtureModel } from '../fixtures/models.js';

const [out] = process.argv.slice(2);
if (!out) throw new Error('usage: make-model.ts <output.gguf>');
await copyFile(await fixtureModel({ kind: 'moe', type: 'F32' }), out);
