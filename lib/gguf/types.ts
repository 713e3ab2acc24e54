/**
 * GGUF value types and ggml tensor types: the numbers on disk, their names, and the
 * sizes the reader and writer need. Mirrors `gguf_type` (ggml/include/gguf.h) and
 * ggml's `type_traits` table (ggml/src/ggml.c).
 */

/** The GGUF magic, the first four bytes of every file. */
export const GGUF_MAGIC = 'GGUF';

/** The GGUF version this package writes. Version 2 files are read as well (same layout). */
export const GGUF_VERSION = 3;

/** Alignment of the tensor data when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Name of the metadata key that overrides the data alignment (must be a uint32). */
export const GGUF_KEY_ALIGNMENT = 'general.alignment';

/**
 * Longest tensor name llama.cpp accepts, in UTF-8 bytes: `GGML_MAX_NAME` (64) minus the
 * terminating NUL.
 */
export const GGML_MAX_NAME_BYTES = 63;

/** Most dimensions a ggml tensor can have (`GGML_MAX_DIMS`). */
export const GGML_MAX_DIMS = 4;

/** GGUF metadata value types, by on-disk number (`enum gguf_type`). */
export const GgufValueTypeId = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

/** Name of a GGUF metadata value type. */
export type GgufValueType = keyof typeof GgufValueTypeId;

/** Value types that are not arrays: the types an array may hold. */
export type GgufScalarType = Exclude<GgufValueType, 'array'>;

/** Value type names indexed by their on-disk number. */
export const GGUF_VALUE_TYPE_NAMES: readonly GgufValueType[] = Object.keys(GgufValueTypeId) as GgufValueType[];

/** On-disk size of each fixed-size scalar type in bytes (strings are variable). */
export const GGUF_SCALAR_SIZE: Readonly<Record<Exclude<GgufScalarType, 'string'>, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  uint64: 8,
  int64: 8,
  float64: 8,
};

/**
 * A typed GGUF metadata value, as read from a file and as given to the writer.
 *
 * The type travels with the value so that metadata copied from one file to another keeps
 * its exact on-disk types (a vocabulary's `int32` token types stay `int32`).
 *
 * 64-bit integers are a `number` when they are safe integers and a `bigint` otherwise;
 * the writer accepts either. Nested arrays are not supported: llama.cpp rejects them.
 */
export type GgufValue =
  | { type: 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64'; value: number }
  | { type: 'uint64' | 'int64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | GgufArrayValue;

/** A typed GGUF array value; see {@link GgufValue}. */
export type GgufArrayValue =
  | { type: 'array'; itemType: 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64'; value: number[] }
  | { type: 'array'; itemType: 'uint64' | 'int64'; value: (number | bigint)[] }
  | { type: 'array'; itemType: 'bool'; value: boolean[] }
  | { type: 'array'; itemType: 'string'; value: string[] };

/** Block layout of a ggml tensor type: `blockSize` elements take `typeSize` bytes. */
export interface GgmlTypeTraits {
  /** ggml's number for the type (`enum ggml_type`). */
  readonly id: number;
  /** Upper-case name as gguf-py spells it (e.g. `Q8_0`). */
  readonly name: string;
  /** Elements per block; a row's element count must be a multiple of it. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

const QK_K = 256;

/**
 * ggml tensor types by number. Numbers removed from ggml (4, 5, 31–33, 36–38) are absent
 * and are rejected by the reader, as llama.cpp does.
 */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;

/** Name of a ggml tensor type, e.g. `'F16'` or `'Q8_0'`. */
export type GgmlTypeName = keyof typeof GgmlType;

// [blockSize, typeSize] per type, from ggml's type_traits (sizes of the block structs in
// ggml-common.h). Kept next to GgmlType so a new type is added in one place.
const LAYOUT: Readonly<Record<GgmlTypeName, readonly [number, number]>> = {
  F32: [1, 4],
  F16: [1, 2],
  Q4_0: [32, 2 + 16],
  Q4_1: [32, 2 + 2 + 16],
  Q5_0: [32, 2 + 4 + 16],
  Q5_1: [32, 2 + 2 + 4 + 16],
  Q8_0: [32, 2 + 32],
  Q8_1: [32, 2 + 2 + 32],
  Q2_K: [QK_K, 2 + 2 + QK_K / 16 + QK_K / 4],
  Q3_K: [QK_K, 2 + QK_K / 4 + QK_K / 8 + 12],
  Q4_K: [QK_K, 2 + 2 + QK_K / 2 + 12],
  Q5_K: [QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12],
  Q6_K: [QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16],
  Q8_K: [QK_K, 4 + QK_K + QK_K / 8],
  IQ2_XXS: [QK_K, 2 + QK_K / 4],
  IQ2_XS: [QK_K, 2 + QK_K / 4 + QK_K / 32],
  IQ3_XXS: [QK_K, 2 + QK_K / 4 + QK_K / 8],
  IQ1_S: [QK_K, 2 + QK_K / 8 + QK_K / 16],
  IQ4_NL: [32, 2 + 16],
  IQ3_S: [QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4],
  IQ2_S: [QK_K, 2 + QK_K / 4 + QK_K / 16],
  IQ4_XS: [QK_K, 2 + 2 + QK_K / 2 + QK_K / 64],
  I8: [1, 1],
  I16: [1, 2],
  I32: [1, 4],
  I64: [1, 8],
  F64: [1, 8],
  IQ1_M: [QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32],
  BF16: [1, 2],
  TQ1_0: [QK_K, 2 + 4 * 13],
  TQ2_0: [QK_K, 2 + 64],
  MXFP4: [32, 1 + 16],
  NVFP4: [64, 4 + 32],
  Q1_0: [128, 2 + 16],
  Q2_0: [64, 2 + 16],
};

const TRAITS_BY_ID = new Map<number, GgmlTypeTraits>(
  (Object.keys(GgmlType) as GgmlTypeName[]).map((name) => {
    const [blockSize, typeSize] = LAYOUT[name];
    const id = GgmlType[name];
    return [id, Object.freeze({ id, name, blockSize, typeSize })];
  }),
);

/**
 * Block layout of a ggml type, by number or name; `undefined` for unknown or removed types.
 */
export function ggmlTypeTraits(type: number | string): GgmlTypeTraits | undefined {
  if (typeof type === 'string') {
    return Object.hasOwn(GgmlType, type) ? TRAITS_BY_ID.get(GgmlType[type as GgmlTypeName]) : undefined;
  }
  return TRAITS_BY_ID.get(type);
}

/**
 * Bytes taken by a tensor of type `traits` and shape `dims` (ggml order), or `undefined`
 * when the first dimension is not a multiple of the block size.
 *
 * Computed in bigint so that absurd shapes cannot silently lose precision; callers
 * check the result against `Number.MAX_SAFE_INTEGER`.
 */
export function tensorByteSize(traits: GgmlTypeTraits, dims: readonly (number | bigint)[]): bigint | undefined {
  if (dims.length === 0) return undefined;
  const ne0 = BigInt(dims[0]!);
  const block = BigInt(traits.blockSize);
  if (ne0 % block !== 0n) return undefined;
  let size = (ne0 / block) * BigInt(traits.typeSize);
  for (let i = 1; i < dims.length; i++) size *= BigInt(dims[i]!);
  return size;
}

/** Rounds `offset` up to a multiple of `alignment` (a power of two). */
export function alignUp(offset: number, alignment: number): number {
  const rest = offset % alignment;
  return rest === 0 ? offset : offset + (alignment - rest);
}
