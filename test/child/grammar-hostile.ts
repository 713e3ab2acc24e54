// Feeds grammars and JSON schemas that would crash llama.cpp's grammar code (GGML_ABORT, stack
// overflow, runaway expansion) to generate() and jsonSchemaToGrammar(), in a child process so a
// crash is a signal and not a dead test runner. Reports one JSON line:
// { cases: [{ name, expected, code, message }] } where `code` is the error code, or 'ok'.
import { jsonSchemaToGrammar } from '../../lib/grammar.js';
import type { JsonSchema } from '../../lib/options/constraints.js';
import { loadModel } from '../../lib/model.js';
import type { GenerateOptions } from '../../lib/options/generate.js';

const [modelPath] = process.argv.slice(2);
const model = await loadModel(modelPath!);
const context = await model.createContext({ contextSize: 256, batchSize: 64, threads: 2 });
const PROMPT = 'The quick brown fox';
const eos = model.info.eosToken;

type Outcome = { name: string; expected: string; code: string; message: string };
const cases: Outcome[] = [];

async function generate(name: string, expected: string, options: GenerateOptions): Promise<void> {
  try {
    const r = await context.generate(PROMPT, { temperature: 0.8, seed: 1, maxTokens: 2, ...options }).result;
    cases.push({ name, expected, code: 'ok', message: JSON.stringify(r.text) });
  } catch (error) {
    const e = error as { code?: string; name?: string; message?: string };
    cases.push({ name, expected, code: e.code ?? e.name ?? 'unknown', message: String(e.message).slice(0, 300) });
  }
}

function convert(name: string, expected: string, schema: unknown): void {
  try {
    const gbnf = jsonSchemaToGrammar(schema as JsonSchema);
    cases.push({ name, expected, code: 'ok', message: `${gbnf.length} bytes of GBNF` });
  } catch (error) {
    const e = error as { code?: string; name?: string; message?: string };
    cases.push({ name, expected, code: e.code ?? e.name ?? 'unknown', message: String(e.message).slice(0, 300) });
  }
}

// ---- grammars ----------------------------------------------------------------------------
await generate('100k nested parentheses', 'ERR_GRAMMAR', { grammar: `root ::= ${'('.repeat(100_000)}"a"${')'.repeat(100_000)}` });
await generate('unclosed parentheses', 'ERR_GRAMMAR', { grammar: `root ::= ${'('.repeat(200)}"a"` });
await generate('{m,n} with n < m (loops ~2^64 times in llama.cpp)', 'ERR_GRAMMAR', { grammar: 'root ::= "ab"{1000,3}' });
await generate('repetitions expanding to gigabytes', 'ERR_GRAMMAR', { grammar: `root ::= ${'"abcdefghij"{0,1999} '.repeat(300)}` });
await generate('a huge repetition count', 'ERR_GRAMMAR', { grammar: 'root ::= "a"{99999999999999999999999}' });
await generate('more than 100000 rules', 'ERR_GRAMMAR', { grammar: `root ::= ${'"x"? '.repeat(120_000)}` });
await generate('more than 1 MiB of text', 'ERR_GRAMMAR', { grammar: `root ::= "a"\n${'# padding\n'.repeat(120_000)}` });
await generate('a NUL byte', 'ERR_GRAMMAR', { grammar: 'root ::= "a"\u0000 junk' });
await generate('an invalid token', 'ERR_GRAMMAR', { grammar: 'root ::= <notasingletoken>' });
await generate('a token id past the vocabulary', 'ERR_GRAMMAR', { grammar: 'root ::= <[4294967295]>' });
await generate('a repetition of a nullable group (ambiguous, but not an error)', 'ok', { grammar: 'root ::= ([a-z]* [0-9]*)*' });
// A chain of 99,990 rules (names in base 62 to stay under 1 MiB), each starting with the next:
// llama.cpp's left-recursion check recurses through all of them, which overflows the stack of
// an ordinary thread.
const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const ruleName = (i: number): string => DIGITS[Math.floor(i / 3844)]! + DIGITS[Math.floor(i / 62) % 62]! + DIGITS[i % 62]!;
const LINKS = 99_990;
const chain = Array.from({ length: LINKS }, (_, i) => `${ruleName(i)}::=${ruleName(i + 1)}`).join('\n');
await generate(`a ${LINKS}-rule chain (valid)`, 'ok', { grammar: `root::=000\n${chain}\n${ruleName(LINKS)}::="x"` });
await generate(`a ${LINKS}-rule left-recursive chain`, 'ERR_GRAMMAR', { grammar: `root::=000\n${chain}\n${ruleName(LINKS)}::=000 "x" | "y"` });
// 64 levels of a repeated alternative: llama.cpp's left-recursion check walked every one of the
// 2^64 paths (vendor/patches/0006); with the patch each rule is explored once.
const diamond = Array.from({ length: 64 }, (_, i) => `a${i} ::= a${i + 1} | a${i + 1}`).join('\n');
await generate('a 64-level diamond of repeated alternatives', 'ok', { grammar: `root ::= a0\n${diamond}\na64 ::= "x"` });
await generate('a 64-level diamond that ends in left recursion', 'ERR_GRAMMAR', { grammar: `root ::= a0\n${diamond}\na64 ::= a0 "x" | "y"` });
// Once the grammar is complete only end of generation is allowed; banning it leaves nothing.
// llama.cpp would GGML_ABORT on accepting an end-of-generation token the grammar does not allow.
for (const temperature of [0, 0.8]) {
  await generate(`end of generation banned after the grammar completes (temperature ${temperature})`, 'ERR_GRAMMAR', {
    grammar: 'root ::= "a"',
    logitBias: { [eos]: -Infinity },
    temperature,
    maxTokens: 8,
  });
}
// Every token banned, no grammar: nothing can be chosen.
const everything = Array.from({ length: model.info.vocabularySize }, (_, t) => [t, -Infinity] as [number, number]);
await generate('every token banned (greedy)', 'ERR_INVALID_ARG', { logitBias: everything, temperature: 0 });
await generate('every token banned (sampled)', 'ERR_INVALID_ARG', { logitBias: everything });

// ---- JSON schemas ------------------------------------------------------------------------
let deep: Record<string, unknown> = { type: 'integer' };
for (let i = 0; i < 1000; i++) deep = { type: 'array', items: deep };
convert('1000 levels of nesting', 'ERR_GRAMMAR', deep);
let fine: Record<string, unknown> = { type: 'integer' };
for (let i = 0; i < 60; i++) fine = { type: 'array', items: fine, maxItems: 1 };
convert('60 levels of nesting', 'ok', fine);
convert('a 100 KB property name (std::regex recursion)', 'ERR_GRAMMAR', {
  type: 'object',
  properties: { ['_'.repeat(100_000)]: { type: 'integer' } },
});
convert('a 4000-byte property name', 'ok', { type: 'object', properties: { ['_'.repeat(4000)]: { type: 'integer' } } });
convert('a 100 KB $ref', 'ERR_GRAMMAR', { $ref: `#/${'/'.repeat(100_000)}` });
convert('more than 1 MiB of JSON', 'ERR_GRAMMAR', { enum: Array.from({ length: 150_000 }, (_, i) => `value${i}`) });
convert('a self-referencing $ref', 'ERR_GRAMMAR', { $defs: { a: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' });
convert('mutually recursive $refs (llama.cpp resolves them)', 'ok', {
  $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } },
  $ref: '#/$defs/a',
});
convert('a remote $ref', 'ERR_GRAMMAR', { $ref: 'https://example.com/schema.json#/x' });
convert('a deeply nested pattern', 'ok', { type: 'string', pattern: `^${'('.repeat(500)}a${')'.repeat(500)}$` });
convert('minLength beyond the repetition limit', 'ERR_GRAMMAR', { type: 'string', minLength: 1_000_000 });
for (const [i, schema] of [
  { type: 5 },
  { type: ['string', 5] },
  { type: [] },
  { properties: 5 },
  { properties: { a: 5 } },
  { items: 5, type: 'array' },
  { prefixItems: 5, type: 'array' },
  { type: 'array', minItems: -1 },
  { type: 'array', minItems: 'x' },
  { type: 'array', maxItems: 1e300 },
  { type: 'string', minLength: -5 },
  { type: 'string', maxLength: 'x' },
  { type: 'integer', minimum: 'x' },
  { type: 'integer', minimum: 1e300, maximum: -1e300 },
  { type: 'number', minimum: 5 },
  { enum: 5 },
  { enum: [] },
  { const: { a: [1, { b: null }] } },
  { required: 5, properties: { a: { type: 'string' } } },
  { required: ['missing'], properties: {} },
  { additionalProperties: 5 },
  { additionalProperties: { type: 'nonsense' } },
  { anyOf: 5 },
  { anyOf: [] },
  { oneOf: [5, null] },
  { allOf: 5 },
  { allOf: [{ enum: [1] }, { enum: [2] }] },
  { $ref: 5 },
  { $ref: '#' },
  { $ref: '#/' },
  { $ref: '#/0/1' },
  { $defs: [1, 2], $ref: '#/$defs/5' },
  { format: 'uuid', type: 'string' },
  { format: 'date-time' },
  { type: 'string', pattern: 'no-anchors' },
  { type: 'string', pattern: '^[a-$' },
  { type: 'string', pattern: '^\\' },
  { type: 'string', pattern: '^a{3,1}$' },
  { type: 'string', pattern: `^a{99999999999999999999}$` },
  { type: 'object', properties: { '': { type: 'string' }, '😀': { type: 'integer' }, 'a b': {} } },
].entries()) {
  // Converted or refused: either is fine, a crash is not.
  convert(`odd schema #${i}: ${JSON.stringify(schema).slice(0, 60)}`, 'any', schema);
}
for (const c of cases) if (c.expected === 'any' && (c.code === 'ok' || c.code === 'ERR_GRAMMAR')) c.expected = c.code;
await generate('a schema through generate()', 'ERR_GRAMMAR', { jsonSchema: { type: 'array', items: { $ref: '#/nope' } } });

await model.dispose();
console.log(JSON.stringify({ cases }));
