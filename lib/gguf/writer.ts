/**
 * GGUF v3 writer that streams tensor data to disk: the header is built in memory (it is
 * small), then each tensor's bytes are pulled from its source and written in order,
 * padded to the alignment, so a multi-gigabyte model never has to fit in memory.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { HeaderBuilder } from './encode.js';
import type { GgufTensorInfo } from './reader.js';
import {
  GGML_MAX_DIMS,
  GGML_MAX_NAME_BYTES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_KEY_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  alignUp,
  ggmlTypeTraits,
  tensorByteSize,
  type GgmlTypeName,
  type GgufValue,
} from './types.js';
import { argRangeError, argTypeError } from '../validate.js';

/**
 * Where a tensor's bytes come from: the bytes themselves, or a function returning chunks
 * that together are exactly the tensor's size. The writer finishes with each chunk
 * before asking for the next, so a source may refill and yield the same buffer.
 */
export type GgufTensorData = Uint8Array | (() => Iterable<Uint8Array> | AsyncIterable<Uint8Array>);

/** A tensor to write. */
export interface GgufWriteTensor {
  /** Name, 1 to 63 UTF-8 bytes, unique in the file. */
  name: string;
  /** Shape in ggml order (ne0 first), 1 to 4 dimensions, each at least 1. */
  dims: readonly number[];
  /** ggml type, by name (`'F16'`) or number; `dims[0]` must be a multiple of its block size. */
  type: GgmlTypeName | number;
  /** The tensor's bytes, already encoded in `type` (F16 and Q8_0 encoders: lib/gguf/quantize.ts). */
  data: GgufTensorData;
}

/** What to write. */
export interface GgufWriteSpec {
  /**
   * Metadata in order, each value with its GGUF type. A `general.alignment` entry (uint32,
   * power of two) sets the data alignment; the default is 32.
   */
  metadata: Iterable<readonly [string, GgufValue]> | Readonly<Record<string, GgufValue>>;
  /** Tensors, written in this order. */
  tensors: readonly GgufWriteTensor[];
}

/** Layout of the written file. */
export interface GgufWriteResult {
  /** Absolute offset of the data section. */
  dataOffset: number;
  /** Size of the file in bytes. */
  fileSize: number;
  /** The tensors as {@link readGguf} will describe them. */
  tensors: GgufTensorInfo[];
}

function metadataEntries(metadata: GgufWriteSpec['metadata']): Iterable<readonly [string, GgufValue]> {
  if (typeof metadata !== 'object' || metadata === null) throw argTypeError('spec.metadata must be an iterable of [key, value] or an object');
  return Symbol.iterator in metadata
    ? (metadata as Iterable<readonly [string, GgufValue]>)
    : Object.entries(metadata as Record<string, GgufValue>);
}

function alignmentOf(key: string, entry: GgufValue): number {
  if (entry?.type !== 'uint32' || entry.value === 0 || (entry.value & (entry.value - 1)) !== 0) {
    throw argRangeError(`metadata['${key}'] must be { type: 'uint32', value: <power of two> }`);
  }
  return entry.value;
}

/** Checks one tensor and describes it at `offset`. */
function describeTensor(t: GgufWriteTensor, index: number, offset: number): GgufTensorInfo {
  const where = `spec.tensors[${index}]`;
  if (typeof t?.name !== 'string') throw argTypeError(`${where}.name must be a string`);
  const nameBytes = Buffer.byteLength(t.name, 'utf8');
  if (nameBytes < 1 || nameBytes > GGML_MAX_NAME_BYTES) {
    throw argRangeError(`${where}.name must be 1 to ${GGML_MAX_NAME_BYTES} UTF-8 bytes, got ${nameBytes} ('${t.name}')`);
  }
  if (!Array.isArray(t.dims) || t.dims.length < 1 || t.dims.length > GGML_MAX_DIMS) {
    throw argRangeError(`${where}.dims ('${t.name}') must be an array of 1 to ${GGML_MAX_DIMS} dimensions`);
  }
  for (const d of t.dims) {
    if (!Number.isSafeInteger(d) || d < 1) throw argRangeError(`${where}.dims ('${t.name}') must be positive integers, got [${t.dims.join(', ')}]`);
  }
  const traits = ggmlTypeTraits(t.type);
  if (traits === undefined) throw argRangeError(`${where}.type ('${t.name}') is not a known ggml type: ${String(t.type)}`);
  const size = tensorByteSize(traits, t.dims);
  if (size === undefined) {
    throw argRangeError(`${where}.dims[0] ('${t.name}') must be a multiple of ${traits.blockSize} for ${traits.name}, got ${t.dims[0]}`);
  }
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw argRangeError(`${where} ('${t.name}') is larger than 2^53 bytes`);
  const isFn = typeof t.data === 'function';
  if (!isFn && !(t.data instanceof Uint8Array)) throw argTypeError(`${where}.data ('${t.name}') must be a Uint8Array or a function`);
  if (!isFn && BigInt((t.data as Uint8Array).length) !== size) {
    throw argRangeError(`${where}.data ('${t.name}') must be ${size} bytes for ${traits.name} [${t.dims.join(', ')}], got ${(t.data as Uint8Array).length}`);
  }
  return { name: t.name, dims: [...t.dims], type: traits.id, typeName: traits.name, offset, byteSize: Number(size) };
}

/** Builds the header bytes and the tensor layout. */
function buildHeader(spec: GgufWriteSpec): { header: Buffer; infos: GgufTensorInfo[]; alignment: number } {
  if (typeof spec !== 'object' || spec === null) throw argTypeError('spec must be an object');
  if (!Array.isArray(spec.tensors)) throw argTypeError('spec.tensors must be an array');
  const kv = new HeaderBuilder();
  const keys = new Set<string>();
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  for (const [key, value] of metadataEntries(spec.metadata)) {
    if (keys.has(key)) throw argRangeError(`metadata key '${key}' appears twice`);
    keys.add(key);
    if (key === GGUF_KEY_ALIGNMENT) alignment = alignmentOf(key, value);
    kv.keyValue(key, value);
  }

  const infos: GgufTensorInfo[] = [];
  const names = new Set<string>();
  let offset = 0;
  spec.tensors.forEach((t, i) => {
    const info = describeTensor(t, i, offset);
    if (names.has(info.name)) throw argRangeError(`tensor name '${info.name}' appears twice`);
    names.add(info.name);
    infos.push(info);
    offset = alignUp(offset + info.byteSize, alignment);
  });

  const head = new HeaderBuilder();
  head.raw(Buffer.from(GGUF_MAGIC, 'latin1'));
  head.u32(GGUF_VERSION);
  head.u64(infos.length);
  head.u64(keys.size);
  head.raw(kv.toBuffer());
  for (const info of infos) {
    head.string(info.name);
    head.u32(info.dims.length);
    for (const d of info.dims) head.u64(d);
    head.i32(info.type);
    head.u64(info.offset);
  }
  return { header: head.toBuffer(), infos, alignment };
}

/** Coalesces small chunks into large writes; large chunks go straight to the file. */
class StreamingFile {
  static readonly STAGE_BYTES = 1 << 20;
  readonly #fh: FileHandle;
  readonly #stage = Buffer.allocUnsafe(StreamingFile.STAGE_BYTES);
  #staged = 0;
  /** Bytes handed to `write` so far, flushed or not. */
  position = 0;

  constructor(fh: FileHandle) {
    this.#fh = fh;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.position += chunk.length;
    if (this.#staged + chunk.length <= this.#stage.length) {
      this.#stage.set(chunk, this.#staged);
      this.#staged += chunk.length;
      return;
    }
    await this.flush();
    if (chunk.length < this.#stage.length / 2) {
      this.#stage.set(chunk, 0);
      this.#staged = chunk.length;
      return;
    }
    await this.#writeAll(chunk);
  }

  async pad(alignment: number): Promise<void> {
    const n = alignUp(this.position, alignment) - this.position;
    if (n > 0) await this.write(new Uint8Array(n));
  }

  async flush(): Promise<void> {
    if (this.#staged === 0) return;
    const n = this.#staged;
    this.#staged = 0;
    await this.#writeAll(this.#stage.subarray(0, n));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.#fh.write(bytes, done, bytes.length - done);
      done += bytesWritten;
    }
  }
}

async function writeTensorData(out: StreamingFile, t: GgufWriteTensor, info: GgufTensorInfo): Promise<void> {
  if (typeof t.data !== 'function') return out.write(t.data);
  let written = 0;
  for await (const chunk of t.data()) {
    if (!(chunk instanceof Uint8Array)) throw argTypeError(`data of tensor '${info.name}' yielded ${typeof chunk}, not a Uint8Array`);
    written += chunk.length;
    if (written > info.byteSize) throw argRangeError(`data of tensor '${info.name}' is longer than its ${info.byteSize} bytes`);
    await out.write(chunk);
  }
  if (written !== info.byteSize) throw argRangeError(`data of tensor '${info.name}' is ${written} bytes, expected ${info.byteSize}`);
}

/**
 * Writes a GGUF v3 file: header, then each tensor's data padded to the alignment (as
 * llama.cpp's `gguf_write_to_file` lays it out). Tensor data is streamed from its
 * sources, so memory use does not grow with the model.
 *
 * Everything is validated before the file is created; if writing fails midway the
 * partial file is removed. The file is written in place: write to a temporary name and
 * rename it when other processes may read it concurrently.
 *
 * @param path - the file to create or replace
 * @param spec - metadata (typed values, in order) and tensors
 * @returns the layout of the written file
 * @throws {TypeError | RangeError} for a value that does not fit its declared type, a bad
 *   tensor shape/type, or data of the wrong size (naming the key or tensor)
 */
export async function writeGguf(path: string, spec: GgufWriteSpec): Promise<GgufWriteResult> {
  if (typeof path !== 'string' || path.length === 0) throw argTypeError('path must be a non-empty string');
  const { header, infos, alignment } = buildHeader(spec);
  const dataOffset = infos.length > 0 ? alignUp(header.length, alignment) : header.length;

  const fh = await open(path, 'w');
  let ok = false;
  try {
    const out = new StreamingFile(fh);
    await out.write(header);
    if (infos.length > 0) await out.pad(alignment);
    for (let i = 0; i < infos.length; i++) {
      await writeTensorData(out, spec.tensors[i]!, infos[i]!);
      await out.pad(alignment);
    }
    await out.flush();
    ok = true;
    return { dataOffset, fileSize: out.position, tensors: infos };
  } finally {
    await fh.close();
    if (!ok) await rm(path, { force: true });
  }
}
