#!/usr/bin/env node
// `npm run docs`: regenerates the API reference in docs/api/ from the TSDoc comments of the
// public API (entry point lib/index.ts), with TypeDoc and typedoc-plugin-markdown; settings in
// typedoc.json. Members marked @internal are left out.
//
// The output is deterministic: no source links (`disableSources`, so moving code between files
// changes nothing), no version, dates or git revision, members sorted by kind and name, not by
// file position. test/docs-api.test.ts regenerates into a temporary folder and fails when
// docs/api/ differs, so the committed reference always matches the code.
//
//   node scripts/docs.mjs [--out DIR]    (default: docs/api)
//
// Exits 1 when TypeDoc reports an error; warnings (a public type referring to one that is not
// exported, an unresolved {@link}) are printed and do not fail the run.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Application, LogLevel } from 'typedoc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = resolve(values.out ?? join(root, 'docs', 'api'));

// typedoc.json's relative paths (entry point, tsconfig) are relative to the repository root.
process.chdir(root);
const app = await Application.bootstrapWithPlugins({
  options: join(root, 'typedoc.json'),
  out,
  logLevel: LogLevel.Warn,
});
const project = await app.convert();
if (project === undefined || app.logger.hasErrors()) {
  process.stderr.write('[llama-napi docs] TypeDoc could not convert lib/index.ts\n');
  process.exit(1);
}
app.validate(project);
await app.generateOutputs(project);
if (app.logger.hasErrors()) {
  process.stderr.write('[llama-napi docs] TypeDoc reported errors\n');
  process.exit(1);
}
