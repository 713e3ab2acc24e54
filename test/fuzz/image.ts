/**
 * A GGUF file as the fuzzer edits it: ordered metadata, tensor infos and each tensor's bytes,
 * read from a fixture and written back byte for byte, including values and layouts that
 * lib/gguf/writer.ts refuses to write (strings that are not UTF-8, zero or huge dimensions,
 * unknown type ids, offsets anywhere).
 */
import { readFile } from 'node:fs/promises';
import { readGguf } from '../../lib/gguf/reader.js';
import { GGUF_DEFAULT_ALIGNMENT, GgufValueTypeId, type GgufScalarType } from '../../lib/gguf/types.js';

/** A string value as bytes on disk: a JS string (written as UTF-8) or raw bytes. */
export type FuzzString = string | Buffer;

/** A metadata value: a scalar of `type`, or an array of `itemType` items. */
export type FuzzValue =
  | { type: Exclude<GgufScalarType, 'string'>; value: number | bigint | boolean }
  | { type: 'string'; value: FuzzString }
  | { type: 'array'; itemType: GgufScalarType; value: Array<number | bigint | boolean | FuzzString> };

/** One tensor: its info fields and its data (laid out again on write unless `offset` is set). */
export interface FuzzTensor {
  name: FuzzString;
  dims: bigint[];
  type: number;
  data: Buffer;
  /** A fixed data offset; otherwise the next aligned offset after the previous tensor. */
  offset?: bigint;
}

/** A whole file. */
export interface ModelImage {
  metadata: Array<[string, FuzzValue]>;
  tensors: FuzzTensor[];
}

/** Reads a GGUF file into an image (values and data copied, so images can be edited freely). */
export async function readImage(path: string): Promise<ModelImage> {
  const [gguf, bytes] = await Promise.all([readGguf(path), readFile(path)]);
  const metadata = Object.entries(gguf.metadata).map(([key, value]): [string, FuzzValue] => [key, value as FuzzValue]);
  const tensors = gguf.tensors.map((t) => {
    const start = gguf.dataOffset + t.offset;
    return { name: t.name, dims: t.dims.map(BigInt), type: t.type, data: Buffer.from(bytes.subarray(start, start + t.byteSize)) };
  });
  return { metadata, tensors };
}

/** A deep enough copy for mutations: arrays and entries are new, tensor bytes are shared. */
export function cloneImage(image: ModelImage): ModelImage {
  return {
    metadata: image.metadata.map(([k, v]) => [k, v.type === 'array' ? { ...v, value: [...v.value] } : { ...v }] as [string, FuzzValue]),
    tensors: image.tensors.map((t) => ({ ...t, dims: [...t.dims] })),
  };
}

export function getValue(image: ModelImage, key: string): FuzzValue | undefined {
  return image.metadata.find(([k]) => k === key)?.[1];
}

/** Replaces the value of `key` in place, or appends it. */
export function setValue(image: ModelImage, key: string, value: FuzzValue): void {
  const entry = image.metadata.find(([k]) => k === key);
  if (entry) entry[1] = value;
  else image.metadata.push([key, value]);
}

export function deleteKey(image: ModelImage, key: string): void {
  image.metadata = image.metadata.filter(([k]) => k !== key);
}

const SIZES: Record<Exclude<GgufScalarType, 'string'>, number> = {
  uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, bool: 1, uint64: 8, int64: 8, float64: 8,
};

/** A growable byte buffer (one allocation per doubling, not per value: headers hold 100k+ values). */
class Bytes {
  buf = Buffer.alloc(1 << 20);
  length = 0;
  #room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  raw(b: Buffer): void {
    b.copy(this.buf, this.#room(b.length));
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.#room(4));
  }
  u64(v: number | bigint): void {
    const at = this.#room(8);
    if (typeof v === 'number' && v >= 0 && v < 2 ** 32) {
      this.buf.writeUInt32LE(v, at);
      this.buf.writeUInt32LE(0, at + 4);
    } else {
      this.buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), at);
    }
  }
  string(s: FuzzString): void {
    if (typeof s !== 'string') {
      this.u64(s.length);
      return this.raw(s);
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.u64(n);
    this.buf.write(s, this.#room(n), n, 'utf8');
  }
  /** Writes a vocabulary-sized array of plain values in one pass; false when it holds anything else. */
  fastArray(type: GgufScalarType, items: readonly unknown[]): boolean {
    // Indexed loops, not every(): a mutation may leave holes, which every() skips.
    const all = (ok: (x: unknown) => boolean): boolean => {
      for (let i = 0; i < items.length; i++) if (!ok(items[i])) return false;
      return true;
    };
    if (type === 'string') {
      if (!all((x) => typeof x === 'string')) return false;
      for (let i = 0; i < items.length; i++) this.string(items[i] as string);
      return true;
    }
    if (type !== 'float32' && type !== 'int32') return false;
    if (!all((x) => typeof x === 'number' && (type === 'float32' || (Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31)))) return false;
    const at = this.#room(items.length * 4);
    const b = this.buf;
    if (type === 'float32') for (let i = 0; i < items.length; i++) b.writeFloatLE(items[i] as number, at + i * 4);
    else for (let i = 0; i < items.length; i++) b.writeInt32LE(items[i] as number, at + i * 4);
    return true;
  }

  /** Writes `v` as `type`, wrapping integers to the type's width (the fuzzer picks the values). */
  scalar(type: GgufScalarType, v: unknown): void {
    if (type === 'string') return this.string(typeof v === 'string' || Buffer.isBuffer(v) ? v : String(v));
    const at = this.#room(SIZES[type]);
    const b = this.buf;
    const n = typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : Number(v);
    const int = (bits: number, signed: boolean): bigint => {
      const big = typeof v === 'bigint' ? v : BigInt(Number.isFinite(n) ? Math.trunc(n) : 0);
      return signed ? BigInt.asIntN(bits, big) : BigInt.asUintN(bits, big);
    };
    const small = (bits: number, signed: boolean): number => {
      const x = Number.isFinite(n) ? Math.trunc(n) : 0;
      const m = 2 ** bits;
      const u = ((x % m) + m) % m;
      return signed && u >= m / 2 ? u - m : u;
    };
    switch (type) {
      case 'uint8': b.writeUInt8(small(8, false), at); break;
      case 'int8': b.writeInt8(small(8, true), at); break;
      case 'uint16': b.writeUInt16LE(small(16, false), at); break;
      case 'int16': b.writeInt16LE(small(16, true), at); break;
      case 'uint32': b.writeUInt32LE(typeof v === 'bigint' ? Number(int(32, false)) : small(32, false), at); break;
      case 'int32': b.writeInt32LE(typeof v === 'bigint' ? Number(int(32, true)) : small(32, true), at); break;
      case 'float32': b.writeFloatLE(n, at); break;
      case 'float64': b.writeDoubleLE(n, at); break;
      case 'bool': b.writeUInt8(v ? 1 : 0, at); break;
      case 'uint64': b.writeBigUInt64LE(int(64, false), at); break;
      case 'int64': b.writeBigInt64LE(int(64, true), at); break;
    }
  }
}

/** The data alignment llama.cpp will use for this metadata (its default when the key is unusable). */
export function effectiveAlignment(image: ModelImage): number {
  const a = getValue(image, 'general.alignment');
  if (a?.type !== 'uint32') return GGUF_DEFAULT_ALIGNMENT;
  const v = Number(a.value);
  return v > 0 && (v & (v - 1)) === 0 && v <= 1 << 16 ? v : GGUF_DEFAULT_ALIGNMENT;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Serializes an image as a GGUF v3 file. */
export function writeImage(image: ModelImage): Buffer {
  const alignment = effectiveAlignment(image);
  const head = new Bytes();
  head.raw(Buffer.from('GGUF', 'latin1'));
  head.u32(3);
  head.u64(image.tensors.length);
  head.u64(image.metadata.length);
  for (const [key, v] of image.metadata) {
    head.string(key);
    head.u32(GgufValueTypeId[v.type]);
    if (v.type !== 'array') {
      head.scalar(v.type, v.value);
      continue;
    }
    head.u32(GgufValueTypeId[v.itemType]);
    head.u64(v.value.length);
    if (!head.fastArray(v.itemType, v.value)) for (const item of v.value) head.scalar(v.itemType, item);
  }
  let next = 0;
  const placed: Array<{ at: number; data: Buffer }> = [];
  for (const t of image.tensors) {
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    if (t.offset !== undefined) {
      head.u64(t.offset);
      continue;
    }
    head.u64(next);
    placed.push({ at: next, data: t.data });
    next = alignUp(next + t.data.length, alignment);
  }
  const dataStart = image.tensors.length > 0 ? alignUp(head.length, alignment) : head.length;
  const file = Buffer.alloc(dataStart + next);
  head.buf.copy(file, 0, 0, head.length);
  for (const p of placed) p.data.copy(file, dataStart + p.at);
  return file;
}
