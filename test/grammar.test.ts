// Constrained output: `grammar`, `jsonSchema`, `logitBias` (lib/grammar.ts, src/grammar.cc).
// The fixture model has random weights and writes arbitrary text, so every output that is
// valid here is valid because of the constraint (the unconstrained runs show it).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../lib/context.js';
import { jsonSchemaToGrammar } from '../lib/grammar.js';
import type { JsonSchema } from '../lib/options/constraints.js';
import { loadModel, type Model } from '../lib/model.js';
import type { GenerateOptions } from '../lib/options/generate.js';
import { describeOutcome, runChild } from './child/spawn.js';
import { fixtureModel } from './fixtures/models.js';

const CONTEXT = { contextSize: 512, batchSize: 64, threads: 2 } as const;
const PROMPT = 'The quick brown fox';
const SEEDS = [1, 2, 3, 4, 5];
const SAMPLED = { temperature: 1, topK: 0, topP: 1, minP: 0 } as const;
const GREEDY = { temperature: 0, repeatPenalty: 1 } as const;

/** A small grammar with alternatives, a character class and a bounded repetition. */
const GREETING = String.raw`
# a greeting: "Hey, abc!"
root     ::= greeting ", " name "!"
greeting ::= "Hello" | "Hi" | "Hey"
name     ::= [a-z]{2,6}
`;
const GREETING_RE = /^(Hello|Hi|Hey), [a-z]{2,6}!$/;
/** Whether `text` can be continued into a sentence of GREETING. */
function isGreetingPrefix(text: string): boolean {
  return ['Hello', 'Hi', 'Hey'].some((g) => {
    const head = `${g}, `;
    if (text.length <= head.length) return head.startsWith(text);
    return text.startsWith(head) && /^([a-z]{0,6}|[a-z]{2,6}!)$/.test(text.slice(head.length));
  });
}

/** A list, to exercise grouping and optional repeats. */
const LIST = String.raw`root ::= "[" item ("," item){0,3} "]"
item ::= [0-9] | "true" | "false"`;
const LIST_RE = /^\[(\d|true|false)(,(\d|true|false)){0,3}\]$/;

/** Only bounded output: enums, booleans, small integers, fixed properties. */
const SCHEMA = {
  type: 'object',
  properties: {
    color: { enum: ['red', 'green', 'blue'] },
    ok: { type: 'boolean' },
    n: { type: 'integer', minimum: 0, maximum: 9 },
    tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 2 },
  },
  required: ['color', 'ok', 'n', 'tags'],
  additionalProperties: false,
} as const satisfies JsonSchema;

function assertMatchesSchema(value: unknown, where: string): void {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), where);
  const o = value as Record<string, unknown>;
  assert.deepEqual(Object.keys(o).sort(), ['color', 'n', 'ok', 'tags'], where);
  assert.ok(['red', 'green', 'blue'].includes(o.color as string), where);
  assert.equal(typeof o.ok, 'boolean', where);
  assert.ok(Number.isInteger(o.n) && (o.n as number) >= 0 && (o.n as number) <= 9, where);
  assert.ok(Array.isArray(o.tags) && o.tags.length <= 2 && o.tags.every((t) => t === 'a' || t === 'b'), where);
}

let modelPath: string;
let model: Model;
let context: Context;

before(async () => {
  modelPath = await fixtureModel({ kind: 'llama', type: 'F32' });
  model = await loadModel(modelPath);
  context = await model.createContext(CONTEXT);
});

after(async () => {
  await model?.dispose();
});

async function run(options: GenerateOptions, prompt: string | number[] = PROMPT) {
  return context.generate(prompt, options).result;
}

describe('grammar', () => {
  for (const [name, grammar, pattern] of [
    ['greeting', GREETING, GREETING_RE],
    ['list', LIST, LIST_RE],
  ] as const) {
    it(`every seeded sampled generation matches the ${name} grammar and ends by end of generation`, async () => {
      const texts = new Set<string>();
      for (const seed of SEEDS) {
        const r = await run({ ...SAMPLED, seed, grammar, maxTokens: 48 });
        assert.match(r.text, pattern, `seed ${seed}`);
        assert.equal(r.finishReason, 'eog', `seed ${seed}: ${JSON.stringify(r.text)}`);
        texts.add(r.text);
      }
      // The draw still decides within the grammar: seeds do not all give the same text.
      assert.ok(texts.size > 1, [...texts].join(' | '));
    });

    it(`greedy generation matches the ${name} grammar and is deterministic`, async () => {
      const a = await run({ ...GREEDY, grammar, maxTokens: 48 });
      const b = await run({ ...GREEDY, grammar, maxTokens: 48 });
      assert.match(a.text, pattern);
      assert.equal(a.finishReason, 'eog');
      assert.deepEqual(a.tokens, b.tokens);
    });
  }

  it('is what makes the output valid: the same runs without it do not match', async () => {
    for (const seed of SEEDS.slice(0, 3)) {
      const r = await run({ ...SAMPLED, seed, maxTokens: 16 });
      assert.doesNotMatch(r.text, GREETING_RE);
    }
    const greedy = await run({ ...GREEDY, maxTokens: 16 });
    assert.doesNotMatch(greedy.text, GREETING_RE);
  });

  it('greedy with a grammar takes the best token the grammar allows', async () => {
    const prompt = model.tokenize(PROMPT);
    const logits = await context.evaluate(prompt);
    const first = (await run({ ...GREEDY, grammar: GREETING, maxTokens: 48 }, prompt)).tokens[0]!;
    // Every first token a sampled run was allowed scores no higher...
    for (const seed of SEEDS) {
      const [sampled] = (await run({ ...SAMPLED, seed, grammar: GREETING, maxTokens: 1 }, prompt)).tokens;
      assert.ok(logits[sampled!]! <= logits[first]!, `seed ${seed}: ${sampled} beats ${first}`);
    }
    // ...and the unconstrained argmax, which the grammar forbids, is not it.
    const [free] = (await run({ ...GREEDY, maxTokens: 1 }, prompt)).tokens;
    assert.notEqual(free, first);
  });

  it('starts every generation with a fresh grammar state', async () => {
    // Were the state kept, the second run would find the grammar complete and end at once.
    const a = await run({ ...SAMPLED, seed: 9, grammar: GREETING, maxTokens: 48 });
    const b = await run({ ...SAMPLED, seed: 9, grammar: GREETING, maxTokens: 48 });
    assert.match(b.text, GREETING_RE);
    assert.deepEqual(a.tokens, b.tokens);
  });

  it('keeps one grammar per generation when a context runs several at once', async () => {
    await using shared = await model.createContext({ ...CONTEXT, sequences: 3 });
    const [greeting, list, json] = await Promise.all([
      shared.generate(PROMPT, { ...SAMPLED, seed: 1, grammar: GREETING, maxTokens: 48 }).result,
      shared.generate(PROMPT, { ...SAMPLED, seed: 2, grammar: LIST, maxTokens: 48 }).result,
      shared.generate(PROMPT, { ...SAMPLED, seed: 3, jsonSchema: SCHEMA, maxTokens: 300 }).result,
    ]);
    assert.match(greeting!.text, GREETING_RE);
    assert.match(list!.text, LIST_RE);
    assertMatchesSchema(JSON.parse(json!.text), json!.text);
    assert.deepEqual([greeting!.finishReason, list!.finishReason, json!.finishReason], ['eog', 'eog', 'eog']);
  });

  it('works with stop strings and maxTokens', async () => {
    const stopped = await run({ ...SAMPLED, seed: 3, grammar: GREETING, stop: [','], maxTokens: 48 });
    assert.equal(stopped.finishReason, 'stop');
    assert.match(stopped.text, /^(Hello|Hi|Hey)$/);
    const cut = await run({ ...SAMPLED, seed: 3, grammar: GREETING, maxTokens: 2 });
    assert.equal(cut.finishReason, 'length');
    assert.ok(isGreetingPrefix(cut.text), cut.text);
  });

  describe('invalid grammars reject result with ERR_GRAMMAR before anything runs', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['a syntax error', 'root ::= "a', /unexpected end of input/],
      ['a missing ::=', 'root "a"', /expecting ::= at line 1, column 6/],
      ['an unknown escape', 'root ::= "\\q"', /unknown escape/],
      ['an undefined rule', 'root ::= greeting "!"', /rule 'greeting' is used but not defined/],
      ['left recursion', 'root ::= root "a" | "a"', /left recursion.*'root'/],
      ['indirect left recursion', 'root ::= a\na ::= b "x"\nb ::= a | "y"', /left recursion/],
      ['an empty grammar', '', /defines no rules/],
      ['only comments', '# nothing here\n\n', /defines no rules/],
      ['no root rule', 'start ::= "a"', /no 'root' rule/],
      ['a repetition whose maximum is below its minimum', 'root ::= "a"{5,2}', /maximum below its minimum/],
      ['a token id outside the vocabulary', 'root ::= <[32000]>', /outside the vocabulary/],
      ['a NUL character', 'root ::= "a"\u0000"b"', /NUL/],
    ];
    for (const [what, grammar, message] of cases) {
      it(what, async () => {
        const generation = context.generate(PROMPT, { ...SAMPLED, seed: 1, grammar, maxTokens: 4 });
        await assert.rejects(generation.result, (error: Error & { code?: string }) => {
          assert.equal(error.name, 'LlamaError');
          assert.equal(error.code, 'ERR_GRAMMAR');
          assert.match(error.message, /^invalid grammar: /);
          assert.match(error.message, message);
          return true;
        });
        // Iteration throws the same error and nothing was generated.
        await assert.rejects(async () => {
          for await (const chunk of generation) assert.fail(`unexpected chunk ${JSON.stringify(chunk)}`);
        }, { code: 'ERR_GRAMMAR' });
      });
    }

    it('the context stays usable afterwards', async () => {
      await assert.rejects(run({ grammar: 'root ::= (' }), { code: 'ERR_GRAMMAR' });
      const r = await run({ ...GREEDY, grammar: GREETING, maxTokens: 48 });
      assert.match(r.text, GREETING_RE);
    });
  });
});

describe('jsonSchema', () => {
  it('converts with llama.cpp’s json_schema_to_grammar', () => {
    const gbnf = jsonSchemaToGrammar(SCHEMA);
    assert.match(gbnf, /^root ::= /m);
    assert.match(gbnf, /"\\"red\\""/);
    assert.equal(jsonSchemaToGrammar({ ...SCHEMA }), gbnf);
  });

  it('sampled and greedy outputs parse and satisfy the schema, ending by end of generation', async () => {
    const runs = [...SEEDS.slice(0, 3).map((seed) => ({ ...SAMPLED, seed })), GREEDY];
    for (const options of runs) {
      const r = await run({ ...options, jsonSchema: SCHEMA, maxTokens: 400 });
      const where = `${JSON.stringify(options)} → ${JSON.stringify(r.text)}`;
      assert.equal(r.finishReason, 'eog', where);
      assertMatchesSchema(JSON.parse(r.text), where);
    }
  });

  it('equals passing the converted grammar', async () => {
    const a = await run({ ...SAMPLED, seed: 4, jsonSchema: SCHEMA, maxTokens: 400 });
    const b = await run({ ...SAMPLED, seed: 4, grammar: jsonSchemaToGrammar(SCHEMA), maxTokens: 400 });
    assert.deepEqual(a.tokens, b.tokens);
  });

  it('takes a snapshot of the schema when generate() is called', async () => {
    const schema: { type: string; enum: string[] } = { type: 'string', enum: ['yes', 'no'] };
    const generation = context.generate(PROMPT, { ...GREEDY, jsonSchema: schema, maxTokens: 16 });
    schema.enum = ['maybe'];
    assert.match((await generation.result).text, /^"(yes|no)"\s*$/);
  });

  describe('schemas llama.cpp cannot convert reject with ERR_GRAMMAR', () => {
    const cases: Array<[string, JsonSchema, RegExp]> = [
      ['an unknown type', { type: 'nonsense' }, /Unrecognized schema/],
      ['an unresolvable $ref', { $ref: '#/$defs/missing' }, /missing/],
      ['an unsupported $ref', { $ref: 'other.json' }, /Unsupported ref/],
      ['an invalid pattern', { type: 'string', pattern: '^(a$' }, /Invalid pattern/],
      ['a nested unknown type', { type: 'object', properties: { a: { type: 'foo' } } }, /Unrecognized schema/],
      ['a non-string format', { type: 'string', format: 5 }, /^invalid jsonSchema: /],
      ['a self-referencing $ref', { $defs: { a: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' }, /^invalid grammar: /],
    ];
    for (const [what, schema, message] of cases) {
      it(what, async () => {
        assert.throws(() => jsonSchemaToGrammar(schema), (error: Error & { code?: string }) => {
          assert.equal(error.name, 'LlamaError');
          assert.equal(error.code, 'ERR_GRAMMAR');
          return true;
        });
        await assert.rejects(run({ jsonSchema: schema, maxTokens: 4 }), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'ERR_GRAMMAR');
          assert.match(error.message, message);
          return true;
        });
      });
    }
  });
});

describe('logitBias', () => {
  it('-Infinity bans a token: greedy output changes and the token never appears', async () => {
    const base = await run({ ...GREEDY, maxTokens: 12 });
    const banned = base.tokens[0]!;
    for (const logitBias of [{ [banned]: -Infinity }, new Map([[banned, -Infinity]]), [[banned, -Infinity]] as [number, number][]]) {
      const r = await run({ ...GREEDY, maxTokens: 12, logitBias });
      assert.notDeepEqual(r.tokens, base.tokens);
      assert.notEqual(r.tokens[0], banned);
      assert.ok(!r.tokens.includes(banned), `${banned} in ${r.tokens.join(',')}`);
    }
    // Every token greedy chose, banned at once: none of them appears.
    const all = Object.fromEntries(base.tokens.map((t) => [t, -Infinity]));
    const r = await run({ ...GREEDY, maxTokens: 12, logitBias: all });
    assert.ok(r.tokens.every((t) => !base.tokens.includes(t)), r.tokens.join(','));
  });

  it('-Infinity holds under sampling too', async () => {
    const base = await run({ ...SAMPLED, seed: 11, maxTokens: 12 });
    const banned = [...new Set(base.tokens)];
    const logitBias = banned.map((t) => [t, -Infinity] as [number, number]);
    for (const seed of [11, ...SEEDS]) {
      const r = await run({ ...SAMPLED, seed, maxTokens: 12, logitBias });
      assert.ok(r.tokens.every((t) => !banned.includes(t)), `seed ${seed}: ${r.tokens.join(',')}`);
    }
  });

  it('a huge positive bias forces a token, greedy or sampled', async () => {
    const [forced] = model.tokenize('zebra', { addSpecial: false });
    for (const options of [GREEDY, { ...SAMPLED, seed: 5 }]) {
      const r = await run({ ...options, maxTokens: 6, logitBias: { [forced!]: 1e9 } });
      assert.deepEqual(r.tokens, Array(6).fill(forced), JSON.stringify(options));
    }
  });

  it('repeated tokens add up; a bias of 0 changes nothing', async () => {
    const base = await run({ ...GREEDY, maxTokens: 8 });
    const same = await run({ ...GREEDY, maxTokens: 8, logitBias: { [base.tokens[0]!]: 0 } });
    assert.deepEqual(same.tokens, base.tokens);
    const t = base.tokens[0]!;
    const cancelled = await run({ ...GREEDY, maxTokens: 8, logitBias: [[t, 1e6], [t, -1e6]] });
    assert.deepEqual(cancelled.tokens, base.tokens);
  });

  it('combines with a grammar: a banned token is avoided within the grammar', async () => {
    const base = await run({ ...GREEDY, grammar: GREETING, maxTokens: 48 });
    const r = await run({ ...GREEDY, grammar: GREETING, maxTokens: 48, logitBias: { [base.tokens[0]!]: -Infinity } });
    assert.match(r.text, GREETING_RE);
    assert.ok(!r.tokens.includes(base.tokens[0]!));
  });
});

describe('validation', () => {
  const invalid = (options: unknown, type: typeof TypeError | typeof RangeError, message: RegExp | string) =>
    assert.throws(() => context.generate(PROMPT, options as GenerateOptions), (error: Error) => {
      assert.ok(error instanceof type, `${error.name}: ${error.message}`);
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    });

  it('grammar must be a string', () => {
    invalid({ grammar: 42 }, TypeError, 'Invalid option "grammar": expected a GBNF grammar string, got 42');
    invalid({ grammar: null }, TypeError, /"grammar"/);
  });

  it('jsonSchema must be a plain, serialisable object', () => {
    invalid({ jsonSchema: 'x' }, TypeError, 'Invalid option "jsonSchema": expected a JSON schema object, got "x"');
    invalid({ jsonSchema: [] }, TypeError, /"jsonSchema": expected a JSON schema object, got an array/);
    const cyclic: Record<string, unknown> = { type: 'object' };
    cyclic.self = cyclic;
    invalid({ jsonSchema: cyclic }, TypeError, /"jsonSchema": expected a JSON schema object that JSON.stringify accepts/);
    invalid({ jsonSchema: { n: 1n } }, TypeError, /BigInt/);
    assert.throws(() => jsonSchemaToGrammar('x' as never), {
      name: 'TypeError',
      message: 'Invalid argument "schema": expected a JSON schema object, got "x"',
    });
  });

  it('grammar and jsonSchema exclude each other', () => {
    invalid({ grammar: GREETING, jsonSchema: SCHEMA }, TypeError, /"jsonSchema": expected undefined when "grammar" is given/);
  });

  it('logitBias: form, token ids and biases', () => {
    invalid({ logitBias: 'x' }, TypeError, 'Invalid option "logitBias": expected an object, a Map or an array of [token, bias] pairs, got "x"');
    invalid({ logitBias: 5 }, TypeError, /"logitBias"/);
    invalid({ logitBias: { '-1': 1 } }, TypeError, 'Invalid option "logitBias": expected token ids (non-negative integers) as keys, got "-1"');
    invalid({ logitBias: { '01': 1 } }, TypeError, /as keys, got "01"/);
    invalid({ logitBias: { 5: 'x' } }, TypeError, /"logitBias\[5\]": expected a number in \[-1e\+30, 1e\+30\] or -Infinity, got "x"/);
    invalid({ logitBias: { 5: NaN } }, TypeError, /"logitBias\[5\]"/);
    invalid({ logitBias: { 5: Infinity } }, RangeError, /"logitBias\[5\]": expected a number in \[-1e\+30, 1e\+30\] or -Infinity, got Infinity/);
    invalid({ logitBias: { 5: 1e31 } }, RangeError, /"logitBias\[5\]"/);
    invalid({ logitBias: [[1.5, 0]] }, RangeError, /"logitBias\[0\]\[0\]": expected token ids \(non-negative integers\), got 1.5/);
    invalid({ logitBias: [[1, 0, 2]] }, TypeError, /"logitBias\[0\]": expected a \[token, bias\] pair, got an array/);
    invalid({ logitBias: [5] }, TypeError, /"logitBias\[0\]"/);
    invalid({ logitBias: new Map([['1', 0]]) }, TypeError, /"logitBias": expected token ids/);
    invalid({ logitBias: new Map([[-3, 0]]) }, RangeError, /"logitBias": expected token ids \(non-negative integers\), got -3/);
  });

  it('logitBias token ids are checked against the vocabulary', async () => {
    invalid({ logitBias: { 32000: 1 } }, RangeError, 'Invalid option "logitBias": expected token ids in [0, 32000), got 32000');
    invalid({ logitBias: [[0, 1], [99999, -Infinity]] }, RangeError, /\[0, 32000\), got 99999/);
    // The highest valid id is fine.
    assert.equal((await run({ maxTokens: 1, logitBias: { 31999: -1 } })).generatedTokens, 1);
  });
});

describe('hostile input never crashes the process', () => {
  it('oversized, deeply nested and pathological grammars and schemas fail with ERR_GRAMMAR', async () => {
    const outcome = await runChild('grammar-hostile.ts', [modelPath], 240_000);
    assert.equal(outcome.signal, null, describeOutcome(outcome));
    assert.equal(outcome.code, 0, describeOutcome(outcome));
    const report = outcome.report as { cases: Array<{ name: string; expected: string; code: string; message: string }> };
    assert.ok(report.cases.length >= 20, describeOutcome(outcome));
    for (const c of report.cases) assert.equal(c.code, c.expected, `${c.name}: ${c.message}`);
  });
});
