// Random-moment races on one multi-sequence context: several streams at once, with aborts,
// `break`s, context disposal and model disposal at random moments (while prompts decode, while
// grammars compile, between tokens). Every stream must end with its tokens, a `break`, or a
// coded error; the process must not crash or hang. Seeded: the same seed makes the same
// schedule of actions (their timing against native work still varies, which is the point).
// Args: model path, seed, rounds. Reports one JSON line of outcome counts.
import { writeSync } from 'node:fs';
import { ERROR_CODES, isLlamaError } from '../../lib/errors.js';
import type { Context } from '../../lib/context.js';
import type { Generation } from '../../lib/generation.js';
import { loadModel, type Model } from '../../lib/model.js';
import { Rng } from '../fuzz/rng.js';

const [path, seedArg, roundsArg] = process.argv.slice(2);
const rng = new Rng('races', Number(seedArg ?? 1));
const random = (): number => rng.next() / 2 ** 32;
const pick = <T>(items: readonly T[]): T => rng.pick(items);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const CODES: ReadonlySet<string> = new Set(ERROR_CODES);
const counts: Record<string, number> = {};
const count = (key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};
const failures: string[] = [];

const LONG_PROMPT = 'Once upon a time, in a land far away, there lived a fox who '.repeat(12);
const PROMPTS = ['The quick brown fox', 'Hello', LONG_PROMPT, 'Numbers: 1 2 3 4 5 6 7 8 9'];
const SCHEMA = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name'] };

/** Options of one stream: plain, a grammar, or a JSON schema (compiled on the native thread). */
function streamOptions(): Record<string, unknown> {
  const base = { maxTokens: 4 + Math.floor(random() * 12), temperature: pick([0, 0.8]), seed: 1 + Math.floor(random() * 1000) };
  switch (pick(['plain', 'plain', 'grammar', 'schema'] as const)) {
    case 'grammar':
      return { ...base, grammar: 'root ::= ("yes" | "no" | [a-z]+) " " [0-9]+' };
    case 'schema':
      return { ...base, jsonSchema: SCHEMA };
    default:
      return base;
  }
}

/** Consumes one stream the way a caller might, and classifies how it ended. */
async function consume(generation: Generation, breakAfter: number | undefined): Promise<void> {
  let chunks = 0;
  try {
    for await (const chunk of generation) {
      chunks++;
      if (typeof chunk.text !== 'string' || !Array.isArray(chunk.tokens)) failures.push('malformed chunk');
      if (breakAfter !== undefined && chunks >= breakAfter) break;
    }
    const result = await generation.result;
    if (!['eog', 'length', 'stop', 'abort'].includes(result.finishReason)) failures.push(`finishReason ${result.finishReason}`);
    count(breakAfter !== undefined && chunks >= breakAfter ? 'break' : `finish:${result.finishReason}`);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (!isLlamaError(error) || typeof code !== 'string' || !CODES.has(code)) {
      failures.push(`uncoded error: ${(error as Error)?.stack ?? String(error)}`);
    }
    count(`error:${String(code)}`);
  }
}

async function round(model: Model): Promise<Model> {
  let context: Context | undefined;
  try {
    context = await model.createContext({ contextSize: 1024, sequences: 3, batchSize: 64, threads: 2 });
  } catch (error) {
    count(`create:${String((error as { code?: unknown }).code)}`);
    return model;
  }
  const streams: Promise<void>[] = [];
  const generations: Generation[] = [];
  const n = 2 + Math.floor(random() * 4); // more streams than sequences at times: some queue
  for (let i = 0; i < n; i++) {
    try {
      const generation = context.generate(pick(PROMPTS), streamOptions());
      generations.push(generation);
      streams.push(consume(generation, random() < 0.2 ? 1 + Math.floor(random() * 3) : undefined));
    } catch (error) {
      count(`generate:${String((error as { code?: unknown }).code)}`);
    }
  }
  // The disruption of this round, at a random moment (0 ms: while prompts are still decoding).
  const action = pick(['none', 'abort', 'abort', 'disposeContext', 'disposeModel'] as const);
  await sleep(pick([0, 0, 1, 3, 8, 20]));
  count(`action:${action}`);
  let next = model;
  switch (action) {
    case 'abort':
      for (const generation of generations) if (random() < 0.5) generation.abort();
      break;
    case 'disposeContext':
      await context.dispose();
      break;
    case 'disposeModel':
      await model.dispose();
      next = await loadModel(path!);
      break;
  }
  await Promise.all(streams);
  await context.dispose();
  return next;
}

const rounds = Number(roundsArg ?? 20);
let model = await loadModel(path!);
for (let r = 0; r < rounds; r++) model = await round(model);
await model.dispose();
writeSync(1, `${JSON.stringify({ rounds, counts, failures })}\n`);
