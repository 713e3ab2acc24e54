/**
 * Mutations of tensor infos: type ids, dimension counts, each dimension, data offsets, names,
 * duplicates, missing and extra tensors. Where the new info needs a different number of bytes,
 * the data is usually resized to match (so the file stays a valid container and the lie reaches
 * llama.cpp); sometimes it is left as it was.
 */
import { ggmlTypeTraits, tensorByteSize } from '../../lib/gguf/types.js';
import type { FuzzTensor, ModelImage } from './image.js';
import type { Mutation } from './mutate-meta.js';
import type { Rng } from './rng.js';

const VALID_TYPES = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 20, 23, 24, 25, 26, 27, 28, 30, 34, 35, 39, 40, 41, 42];
const INVALID_TYPES = [4, 5, 31, 36, 43, 99, -1, 2 ** 31 - 1];
const MAX_DATA = 64 << 20;

/** Resizes `t.data` to what its type and dims need, when that is known and not huge. */
function fitData(t: FuzzTensor, rng: Rng): void {
  const traits = ggmlTypeTraits(t.type);
  if (!traits || t.dims.length === 0 || t.dims.some((d) => d < 1n)) return;
  const size = tensorByteSize(traits, t.dims);
  if (size === undefined || size > BigInt(MAX_DATA)) return;
  const data = Buffer.alloc(Number(size));
  if (rng.chance(0.5)) t.data.copy(data, 0, 0, Math.min(t.data.length, data.length));
  else for (let i = 0; i < data.length; i += 97) data[i] = rng.below(256);
  t.data = data;
}

function pickTensor(image: ModelImage, rng: Rng): FuzzTensor {
  return rng.pick(image.tensors);
}

export const tensorType: Mutation = (image, rng) => {
  const t = pickTensor(image, rng);
  const before = t.type;
  t.type = rng.chance(0.85) ? rng.pick(VALID_TYPES) : rng.pick(INVALID_TYPES);
  if (rng.chance(0.8)) fitData(t, rng);
  return `tensor '${String(t.name)}' type ${before} -> ${t.type}`;
};

export const tensorDims: Mutation = (image, rng) => {
  const t = pickTensor(image, rng);
  const before = t.dims.join('x');
  switch (rng.below(4)) {
    case 0:
      if (rng.chance(0.5)) t.dims.push(1n);
      else t.dims.pop();
      break;
    case 1:
      t.dims = rng.chance(0.5) ? [] : [...t.dims, 1n, 1n, 1n, 1n].slice(0, 5);
      break;
    case 2: {
      const j = rng.below(t.dims.length);
      const d = t.dims[j]!;
      t.dims[j] = rng.pick([0n, 1n, 2n, d - 1n, d + 1n, d * 2n, d / 2n, 32n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 62n, -1n]);
      break;
    }
    default:
      t.dims.reverse();
  }
  if (rng.chance(0.8)) fitData(t, rng);
  return `tensor '${String(t.name)}' dims ${before} -> ${t.dims.join('x') || '(none)'}`;
};

export const tensorOffset: Mutation = (image, rng) => {
  const i = rng.below(image.tensors.length);
  const t = image.tensors[i]!;
  t.offset = rng.pick([1n, 16n, 0n, 2n ** 40n, 2n ** 63n, 2n ** 64n - 32n, BigInt(rng.below(1 << 20)) * 32n]);
  return `tensor '${String(t.name)}' offset -> ${t.offset}`;
};

const NAMES = ['', 'x', 'token_embd.weight', 'output.weight', 'blk.0.attn_q.weight', 'blk.9.attn_q.weight', 'blk.0.ffn_gate_exps.weight',
  'blk.0.ffn_gate.weight', 'blk.0.ffn_gate_inp.weight', 'rope_freqs.weight', 'blk.-1.attn_q.weight', 'blk.99999999999.attn_q.weight'];

export const tensorName: Mutation = (image, rng) => {
  const i = rng.below(image.tensors.length);
  const t = image.tensors[i]!;
  const before = String(t.name);
  switch (rng.below(7)) {
    case 0:
      t.name = rng.pick(NAMES);
      break;
    case 1:
      t.name = rng.pick(['a'.repeat(63), 'a'.repeat(64), 'a'.repeat(1000), 'blk.0.attn_q\u0000.weight']);
      break;
    case 2:
      t.name = Buffer.from([0x62, 0x6c, 0x6b, 0xff, 0xfe]);
      break;
    case 3: {
      const other = pickTensor(image, rng);
      [t.name, other.name] = [other.name, t.name];
      return `tensors '${before}' and '${String(t.name)}' swap names`;
    }
    case 4:
      image.tensors.splice(i, 1);
      return `tensor '${before}' removed`;
    case 5: {
      const name = rng.pick(['blk.2.attn_q.weight', 'blk.0.ffn_gate_exps.weight', 'blk.0.ffn_gate.weight', 'extra.weight', 'rope_freqs.weight', 'token_embd_norm.weight', 'blk.0.attn_q.bias', 'output.weight']);
      image.tensors.push({ ...t, name, dims: [...t.dims] });
      return `extra tensor '${name}' (a copy of '${before}')`;
    }
    default:
      t.name = pickTensor(image, rng).name;
  }
  return `tensor '${before}' renamed to ${JSON.stringify(String(t.name)).slice(0, 80)}`;
};
