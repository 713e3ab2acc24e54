/**
 * The package root folder (`lib/..` under tsx, `dist/..` when built): the one place of the ES
 * module build that knows it. The CommonJS build has its own, lib/cjs/package-root.cjs, which
 * scripts/build-ts.mjs copies over dist/cjs/package-root.js (keeping this file's .d.ts).
 * @internal
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const moduleUrl: string =
  // @ts-ignore TS1343 in the CommonJS program (module: CommonJS), whose output of this file is replaced.
  import.meta.url;

export const packageRoot: string = join(dirname(fileURLToPath(moduleUrl)), '..');
