// `node --import tsx --import ./test/fuzz/no-precheck.mjs …` replaces lib/model-consistency.ts with
// a check that passes everything: `npm run fuzz -- --no-precheck` measures what llama.cpp alone
// does with the fuzz cases (the "before" column of docs/testing.md's fuzz results).
import { register } from 'node:module';

register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (/\\/lib\\/model-consistency\\.(ts|js)$/.test(result.url)) {
    return { url: 'data:text/javascript,export function checkModelConsistency() {}', shortCircuit: true };
  }
  return result;
}`));
