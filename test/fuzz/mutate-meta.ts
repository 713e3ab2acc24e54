/**
 * Mutations of hyper-parameters and other metadata: every key to 0, 1, off by one, past what
 * the tensors hold, UINT32_MAX, bad floats, the wrong type, arrays where scalars belong, and
 * missing keys; architecture names, alignment, expert and block counts, norm epsilon.
 */
import { deleteKey, getValue, setValue, type FuzzValue, type ModelImage } from './image.js';
import type { Rng } from './rng.js';

/** What a mutation may know about the base model it edits. */
export interface BaseFacts {
  arch: string;
  layers: number;
  experts: number;
  vocab: number;
}

export type Mutation = (image: ModelImage, rng: Rng, base: BaseFacts) => string;

const U32_MAX = 0xffffffff;

/** Integer hyper-parameters of llama.cpp's loader (without the `<arch>.` prefix). */
export const INT_KEYS = [
  'context_length', 'embedding_length', 'block_count', 'feed_forward_length', 'rope.dimension_count',
  'attention.head_count', 'attention.head_count_kv', 'expert_count', 'expert_used_count', 'vocab_size',
  'attention.key_length', 'attention.value_length', 'expert_group_count', 'expert_group_used_count',
  'nextn_predict_layers', 'pooling_type', 'embedding_length_out', 'rope.scaling.original_context_length',
  'attention.sliding_window', 'expert_feed_forward_length', 'expert_shared_count', 'leading_dense_block_count',
  'attention.key_length_swa', 'attention.value_length_swa', 'rope.dimension_count_swa', 'expert_gating_func',
];

/** Float hyper-parameters. */
export const FLOAT_KEYS = [
  'attention.layer_norm_rms_epsilon', 'attention.layer_norm_epsilon', 'rope.freq_base', 'rope.scaling.factor',
  'rope.scaling.attn_factor', 'rope.scale_linear', 'expert_weights_scale', 'attention.scale', 'logit_scale',
  'attn_logit_softcapping', 'final_logit_softcapping', 'rope.scaling.yarn_log_multiplier', 'rope.freq_base_swa',
];

const GENERAL_KEYS = ['general.file_type', 'general.quantization_version', 'general.name', 'general.architecture'];

export const REQUIRED_KEYS = [
  'general.architecture', 'context_length', 'embedding_length', 'block_count', 'feed_forward_length',
  'attention.head_count', 'attention.head_count_kv', 'rope.dimension_count', 'attention.layer_norm_rms_epsilon',
  'expert_count', 'expert_used_count', 'tokenizer.ggml.model', 'tokenizer.ggml.tokens', 'tokenizer.ggml.scores',
  'tokenizer.ggml.token_type', 'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.pre',
];

const archKey = (base: BaseFacts, key: string): string =>
  key.startsWith('general.') || key.startsWith('tokenizer.') ? key : `${base.arch}.${key}`;

function numberOf(v: FuzzValue | undefined): number | undefined {
  return v && v.type !== 'array' && v.type !== 'string' ? Number(v.value) : undefined;
}

/** Interesting integers around `orig` for a key of the base model. */
function interestingInts(orig: number, base: BaseFacts): number[] {
  return [0, 1, 2, orig - 1, orig + 1, orig * 2, base.layers + 1, base.experts + 1, base.vocab, base.vocab + 1,
    511, 512, 513, 1024, 1025, 65535, 65536, 2 ** 31 - 1, 2 ** 31, U32_MAX];
}

/** A value of a random type for an integer: mostly uint32, sometimes a signed, wider or narrower type. */
function intValue(rng: Rng, n: number): FuzzValue {
  const r = rng.below(10);
  if (r < 6) return { type: 'uint32', value: n };
  if (r === 6) return { type: 'int32', value: rng.chance(0.5) ? -1 : n };
  if (r === 7) return { type: 'uint64', value: rng.chance(0.5) ? BigInt(n) : 2n ** 32n + BigInt(n) };
  if (r === 8) return { type: 'int64', value: rng.chance(0.5) ? -1n : BigInt(n) };
  return { type: rng.pick(['uint8', 'int8', 'uint16', 'int16'] as const), value: n };
}

const FLOATS = [0, -0, -1, -1e-5, 1e-45, 1e-5, 1, 3.4e38, -3.4e38, NaN, Infinity, -Infinity];

/** A value of the wrong kind for a scalar key. */
function wrongType(rng: Rng, base: BaseFacts, orig: number | undefined): FuzzValue {
  const n = orig ?? 1;
  const lengths = [0, 1, base.layers, base.layers + 1, 513];
  switch (rng.below(8)) {
    case 0: return { type: 'string', value: rng.pick([String(n), '', 'llama', 'NaN']) };
    case 1: return { type: 'bool', value: rng.chance(0.5) };
    case 2: return { type: 'float32', value: rng.pick([n, n + 0.5, NaN, -n]) };
    case 3: return { type: 'float64', value: rng.pick([n, NaN, Infinity]) };
    case 4: return { type: 'array', itemType: 'uint32', value: new Array(rng.pick(lengths)).fill(0).map(() => rng.pick([0, n, n + 1, U32_MAX])) };
    case 5: return { type: 'array', itemType: 'int32', value: new Array(rng.pick(lengths)).fill(n).map((x: number) => (rng.chance(0.3) ? -1 : x)) };
    case 6: return { type: 'array', itemType: 'string', value: new Array(rng.pick(lengths)).fill(String(n)) };
    default: return { type: 'array', itemType: 'float32', value: new Array(rng.pick(lengths)).fill(n) };
  }
}

export const hyperParameterInt: Mutation = (image, rng, base) => {
  const key = `${base.arch}.${rng.pick(INT_KEYS)}`;
  const n = rng.pick(interestingInts(numberOf(getValue(image, key)) ?? 1, base));
  const v = intValue(rng, Math.max(0, n));
  setValue(image, key, v);
  return `${key} = ${v.type} ${String(v.value)}`;
};

export const hyperParameterFloat: Mutation = (image, rng, base) => {
  const key = `${base.arch}.${rng.pick(FLOAT_KEYS)}`;
  const value = rng.pick(FLOATS);
  const type = rng.chance(0.8) ? 'float32' : 'float64';
  setValue(image, key, { type, value });
  return `${key} = ${type} ${value}`;
};

export const wrongValueType: Mutation = (image, rng, base) => {
  const scalarKeys = image.metadata.filter(([, v]) => v.type !== 'array').map(([k]) => k);
  const key = rng.chance(0.7) ? `${base.arch}.${rng.pick([...INT_KEYS.slice(0, 10), ...FLOAT_KEYS.slice(0, 3)])}` : rng.pick(scalarKeys);
  const v = wrongType(rng, base, numberOf(getValue(image, key)));
  setValue(image, key, v);
  return `${key} = ${v.type}${v.type === 'array' ? `<${v.itemType}>[${v.value.length}]` : ` ${String(v.value)}`}`;
};

export const missingKey: Mutation = (image, rng, base) => {
  const key = rng.chance(0.7) ? archKey(base, rng.pick(REQUIRED_KEYS)) : rng.pick(image.metadata.map(([k]) => k));
  deleteKey(image, key);
  return `delete ${key}`;
};

const ARCHES = ['llama', 'llama4', 'mistral3', 'qwen2', 'qwen2moe', 'qwen3moe', 'gpt2', 'bert', 'nomic-bert', 't5', 'mamba', 'rwkv6',
  'deepseek2', 'gemma3', 'phi3', 'granitemoe', 'olmoe', 'clip', 'falcon', 'starcoder', 'jamba', 'deci', 'llama-embed', '', 'LLAMA', 'mixtral', 'unknown-arch'];

export const architecture: Mutation = (image, rng, base) => {
  const arch = rng.pick(ARCHES);
  setValue(image, 'general.architecture', { type: 'string', value: arch });
  if (!rng.chance(0.7)) return `general.architecture = '${arch}' (keys kept under '${base.arch}.')`;
  image.metadata = image.metadata.map(([k, v]) => [k.startsWith(`${base.arch}.`) ? `${arch}.${k.slice(base.arch.length + 1)}` : k, v]);
  base.arch = arch;
  return `general.architecture = '${arch}' with the keys renamed`;
};

export const alignment: Mutation = (image, rng) => {
  const r = rng.below(10);
  const v: FuzzValue =
    r < 7 ? { type: 'uint32', value: rng.pick([1, 0, 2, 3, 8, 16, 24, 64, 100, 4096, 65536, 2 ** 31, U32_MAX]) }
      : r < 9 ? { type: rng.pick(['uint64', 'int32', 'uint16'] as const), value: rng.pick([1, 32, 64]) }
        : { type: 'string', value: '32' };
  setValue(image, 'general.alignment', v);
  return `general.alignment = ${v.type} ${String(v.value)}`;
};

export const experts: Mutation = (image, rng, base) => {
  const count = rng.pick([0, 1, 2, base.experts - 1, base.experts + 1, 1024, 1025, 65536, U32_MAX, base.experts]);
  const used = rng.pick([0, 1, 2, count, count + 1, base.experts + 1, U32_MAX]);
  const changes: string[] = [];
  if (rng.chance(0.8)) {
    setValue(image, `${base.arch}.expert_count`, { type: 'uint32', value: count });
    changes.push(`expert_count = ${count}`);
  }
  if (rng.chance(0.8)) {
    setValue(image, `${base.arch}.expert_used_count`, { type: 'uint32', value: used });
    changes.push(`expert_used_count = ${used}`);
  }
  if (rng.chance(0.15)) {
    const groups = rng.pick([0, 1, 2, 3, count, count + 1]);
    setValue(image, `${base.arch}.expert_group_count`, { type: 'uint32', value: groups });
    setValue(image, `${base.arch}.expert_group_used_count`, { type: 'uint32', value: rng.pick([0, 1, groups]) });
    changes.push(`expert_group_count = ${groups}`);
  }
  return changes.join(', ') || 'experts unchanged';
};

export const blocks: Mutation = (image, rng, base) => {
  const n = rng.pick([0, 1, base.layers - 1, base.layers + 1, base.layers * 2, 512, 513, 65536, U32_MAX]);
  setValue(image, `${base.arch}.block_count`, { type: 'uint32', value: n });
  return `${base.arch}.block_count = ${n}`;
};

export const normEpsilon: Mutation = (image, rng, base) => {
  const key = `${base.arch}.${rng.pick(['attention.layer_norm_rms_epsilon', 'attention.layer_norm_epsilon'])}`;
  const value = rng.pick([-1e-5, -1, NaN, Infinity, -Infinity, 0, -0, 1e-45, 1e30]);
  setValue(image, key, { type: 'float32', value });
  return `${key} = ${value}`;
};

export const generalKey: Mutation = (image, rng) => {
  const key = rng.pick(GENERAL_KEYS);
  const v: FuzzValue = rng.chance(0.5) ? { type: 'uint32', value: rng.pick([0, 1, 7, 30, 38, 99, 1024, U32_MAX]) } : { type: 'string', value: rng.pick(['', 'x'.repeat(10_000), '\u0000']) };
  setValue(image, key, v);
  return `${key} = ${v.type} ${typeof v.value === 'string' ? `(${v.value.length} chars)` : String(v.value)}`;
};

/** String hyper-parameters: names llama.cpp looks up in a table. */
export const hyperParameterString: Mutation = (image, rng, base) => {
  const key = `${base.arch}.${rng.pick(['rope.scaling.type', 'rope.scaling.type', 'hidden_activation', 'expert_gating_func'])}`;
  const value = rng.pick(['none', 'linear', 'yarn', 'longrope', 'bogus', '', 'YARN', 'gelu', 'silu']);
  setValue(image, key, rng.chance(0.9) ? { type: 'string', value } : { type: 'uint32', value: 1 });
  return `${key} = '${value}'`;
};
