/**
 * Mutations of the vocabulary and tokenizer keys: token arrays truncated, too long, empty,
 * duplicated or malformed; scores and token types of the wrong length, type or range;
 * special-token ids out of range; tokenizer models and pre-tokenizers the vocabulary cannot
 * build; chat templates.
 */
import { deleteKey, getValue, setValue, type FuzzString, type FuzzValue, type ModelImage } from './image.js';
import type { Mutation } from './mutate-meta.js';
import type { Rng } from './rng.js';

const TOKENS = 'tokenizer.ggml.tokens';
const SCORES = 'tokenizer.ggml.scores';
const TYPES = 'tokenizer.ggml.token_type';

function arrayOf(image: ModelImage, key: string): Array<number | bigint | boolean | FuzzString> {
  const v = getValue(image, key);
  return v?.type === 'array' ? v.value : [];
}

/** A new length for an array of `n` items. */
function newLength(rng: Rng, n: number): number {
  return rng.pick([0, 1, 2, 3, 10, 255, 258, 259, 260, n - 1, n + 1, n + 100, n * 2]);
}

function resize<T>(items: T[], length: number, fill: (i: number) => T): T[] {
  const out = items.slice(0, length);
  for (let i = out.length; i < length; i++) out.push(fill(i));
  return out;
}

const BAD_BYTE_TOKENS = ['<0xZZ>', '<0x>', '<0x100>', '<0x1G>', '<0X41>', '<0x4>', '<0x-1>', '<0x41', '0x41>', '<>'];

export const vocabTokens: Mutation = (image, rng) => {
  const tokens = arrayOf(image, TOKENS) as FuzzString[];
  const n = tokens.length;
  let out = [...tokens];
  let what: string;
  switch (rng.below(11)) {
    case 0: {
      const length = newLength(rng, n);
      out = resize(out, length, (i) => `extra${i}`);
      what = `resized from ${n} to ${length}`;
      break;
    }
    case 1:
      out = out.map(() => '');
      what = 'all empty';
      break;
    case 2: {
      const k = rng.between(1, 50);
      for (let j = 0; j < k; j++) out[rng.below(n)] = '';
      what = `${k} emptied`;
      break;
    }
    case 3: {
      const k = rng.between(1, 50);
      for (let j = 0; j < k; j++) out[rng.below(n)] = out[rng.below(n)]!;
      what = `${k} duplicated`;
      break;
    }
    case 4: {
      const t = rng.pick(out);
      out = out.map(() => t);
      what = `all identical (${JSON.stringify(String(t))})`;
      break;
    }
    case 5: {
      // Byte tokens are ids 3..258 in the Llama vocabulary.
      const k = rng.pick([1, 5, 256]);
      for (let j = 0; j < k; j++) out[k === 256 ? 3 + j : rng.between(3, 258)] = rng.pick(BAD_BYTE_TOKENS);
      what = `${k} invalid byte tokens`;
      break;
    }
    case 6: {
      out[rng.below(n)] = rng.pick(['a\u0000b', '\u0000', 'x'.repeat(rng.pick([256, 4096, 100_000])), '\u{1F999}'.repeat(100)]);
      what = 'a NUL, long or astral token';
      break;
    }
    case 7: {
      out[rng.below(Math.min(n, 300))] = Buffer.from(rng.pick([[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80, 0x80]]));
      what = 'a token that is not UTF-8';
      break;
    }
    case 8:
      out = out.filter((t) => !String(t).startsWith('<0x'));
      what = `byte tokens removed (${out.length} left)`;
      break;
    case 9: {
      const t = rng.pick(['<s>', '</s>', '<unk>', '▁', ' ', '[INST]', '<0x0A>']);
      out[rng.below(n)] = t;
      what = `one token replaced by ${JSON.stringify(t)}`;
      break;
    }
    default: {
      const length = rng.pick([0, 1, 3, 259]);
      out = resize(out, length, (i) => `t${i}`);
      for (const key of [SCORES, TYPES]) {
        const v = getValue(image, key);
        if (v?.type === 'array') setValue(image, key, { ...v, value: v.value.slice(0, length) } as FuzzValue);
      }
      what = `whole vocabulary cut to ${length}`;
    }
  }
  setValue(image, TOKENS, { type: 'array', itemType: 'string', value: out });
  return `${TOKENS}: ${what}`;
};

export const vocabScores: Mutation = (image, rng) => {
  const scores = arrayOf(image, SCORES) as number[];
  const n = scores.length;
  let v: FuzzValue;
  switch (rng.below(5)) {
    case 0:
      v = { type: 'array', itemType: 'float32', value: resize(scores, newLength(rng, n), () => 0) };
      break;
    case 1:
      v = { type: 'array', itemType: rng.pick(['int32', 'uint8', 'float64', 'bool'] as const), value: scores.map((s) => (Number.isFinite(s) ? Math.trunc(s) & 1 : 0)) };
      break;
    case 2:
      v = { type: 'array', itemType: 'string', value: scores.map(String) };
      break;
    case 3:
      v = { type: 'array', itemType: 'float32', value: scores.map(() => rng.pick([NaN, Infinity, -Infinity, 0])) };
      break;
    default:
      v = { type: 'float32', value: 0 };
  }
  setValue(image, SCORES, v);
  return `${SCORES} = ${v.type === 'array' ? `${v.itemType}[${v.value.length}]` : 'a scalar'}`;
};

export const vocabTypes: Mutation = (image, rng) => {
  const types = arrayOf(image, TYPES) as number[];
  const n = types.length;
  let v: FuzzValue;
  switch (rng.below(6)) {
    case 0:
      v = { type: 'array', itemType: 'int32', value: resize(types, newLength(rng, n), () => 1) };
      break;
    case 1:
      v = { type: 'array', itemType: rng.pick(['uint8', 'uint32', 'float32', 'int64', 'string'] as const), value: types.map((t) => t) };
      if (v.itemType === 'string') v.value = types.map(String);
      break;
    case 2: {
      const bad = rng.pick([0, 7, 8, -1, 100, 2 ** 31 - 1]);
      const out = [...types];
      const k = rng.pick([1, 10, n]);
      for (let j = 0; j < k; j++) out[k === n ? j : rng.below(n)] = bad;
      v = { type: 'array', itemType: 'int32', value: out };
      break;
    }
    case 3: {
      const all = rng.pick([1, 2, 3, 4, 5, 6]);
      v = { type: 'array', itemType: 'int32', value: types.map(() => all) };
      break;
    }
    case 4: {
      // Byte types on tokens that are not byte tokens, or the reverse.
      const out = [...types];
      for (let j = 0; j < 20; j++) out[rng.below(n)] = rng.pick([6, 1, 3]);
      v = { type: 'array', itemType: 'int32', value: out };
      break;
    }
    default:
      v = { type: 'int32', value: 1 };
  }
  setValue(image, TYPES, v);
  return `${TYPES} = ${v.type === 'array' ? `${v.itemType}[${v.value.length}]` : 'a scalar'}`;
};

const SPECIAL_IDS = ['bos', 'eos', 'unknown', 'padding', 'seperator', 'cls', 'mask', 'eot', 'eom', 'prefix', 'suffix', 'middle', 'fim_pre', 'fim_suf', 'fim_mid', 'fim_pad', 'fim_rep', 'fim_sep'];

export const specialIds: Mutation = (image, rng, base) => {
  const key = `tokenizer.ggml.${rng.pick(SPECIAL_IDS)}_token_id`;
  const n = rng.pick([0, 1, 2, 3, base.vocab - 1, base.vocab, base.vocab + 1, 65535, 2 ** 31 - 1, 2 ** 31, 0xffffffff]);
  const v: FuzzValue = rng.chance(0.8) ? { type: 'uint32', value: n } : rng.chance(0.5) ? { type: 'int32', value: -1 } : { type: 'string', value: '1' };
  setValue(image, key, v);
  if (rng.chance(0.2)) setValue(image, rng.pick(['tokenizer.ggml.add_bos_token', 'tokenizer.ggml.add_eos_token', 'tokenizer.ggml.add_sep_token']), rng.chance(0.5) ? { type: 'bool', value: true } : { type: 'uint32', value: 1 });
  return `${key} = ${v.type} ${String(v.value)}`;
};

const MODELS = ['bert', 'none', 'no_vocab', 'gpt2', 'rwkv', 't5', 'ugm', 'plamo2', 'gemma4', 'llama', 'unknown-model', '', 'BERT'];
const PRES = ['default', 'llama3', 'llama-bpe', 'qwen2', 'deepseek-llm', 'gpt-2', 'falcon', 'chatglm-bpe', 'tekken', 'unknown-pre', '', 'jais', 'refact', 'smollm', 'kimi-k2', 'gpt-4o'];

export const tokenizerModel: Mutation = (image, rng) => {
  const changes: string[] = [];
  if (rng.chance(0.7)) {
    const model = rng.pick(MODELS);
    setValue(image, 'tokenizer.ggml.model', { type: 'string', value: model });
    changes.push(`model '${model}'`);
  }
  if (rng.chance(0.5)) {
    const pre = rng.pick(PRES);
    setValue(image, 'tokenizer.ggml.pre', { type: 'string', value: pre });
    changes.push(`pre '${pre}'`);
  }
  if (rng.chance(0.25)) {
    const merges = rng.pick([[], ['a b'], ['▁ t', 'e r', 'x'], ['', ' ', 'a b c'], ['▁▁ ▁▁']]);
    setValue(image, 'tokenizer.ggml.merges', { type: 'array', itemType: 'string', value: merges });
    changes.push(`merges ${JSON.stringify(merges)}`);
  }
  if (rng.chance(0.15)) {
    const length = rng.pick([0, 1, 3, 4, 8, 64, 1000]);
    const bytes = new Array(length).fill(0).map(() => rng.below(256));
    if (length >= 4 && rng.chance(0.5)) [bytes[0], bytes[1], bytes[2], bytes[3]] = [0xff, 0xff, 0xff, 0x7f];
    setValue(image, 'tokenizer.ggml.precompiled_charsmap', { type: 'array', itemType: 'uint8', value: bytes });
    changes.push(`precompiled_charsmap of ${length} bytes`);
  }
  if (rng.chance(0.1)) {
    deleteKey(image, rng.pick(['tokenizer.ggml.model', 'tokenizer.ggml.pre']));
    changes.push('a name deleted');
  }
  if (changes.length === 0) {
    setValue(image, 'tokenizer.ggml.model', { type: 'string', value: 'bert' });
    changes.push(`model 'bert'`);
  }
  return `tokenizer: ${changes.join(', ')}`;
};

export const chatTemplate: Mutation = (image, rng) => {
  const r = rng.below(4);
  if (r === 0) {
    deleteKey(image, 'tokenizer.chat_template');
    return 'tokenizer.chat_template deleted';
  }
  const value = r === 1 ? '' : r === 2 ? rng.pick(['{% for %}', '{{', '[INST]', '<|im_start|>', '<start_of_turn>', '{{ raise_exception("x") }}']) : '[INST]'.repeat(20_000);
  setValue(image, 'tokenizer.chat_template', rng.chance(0.9) ? { type: 'string', value } : { type: 'uint32', value: 1 });
  return `tokenizer.chat_template = ${JSON.stringify(value.slice(0, 40))}${value.length > 40 ? '…' : ''}`;
};
