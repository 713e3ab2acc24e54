/**
 * GGUF header reader: metadata and tensor descriptions, validated, without the tensor
 * data. Every count and length is checked against a limit and against the bytes left in
 * the file before anything is allocated for it, so hostile files fail fast with
 * `ERR_GGUF_INVALID` and bounded memory (GGUF parsers have a long history of overflow
 * bugs in exactly these fields).
 */
import { HeaderCursor } from './cursor.js';
import { openRegularFile } from './file.js';
import {
  GGML_MAX_DIMS,
  GGML_MAX_NAME_BYTES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_KEY_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_SCALAR_SIZE,
  GGUF_VALUE_TYPE_NAMES,
  alignUp,
  ggmlTypeTraits,
  tensorByteSize,
  type GgufScalarType,
  type GgufValue,
} from './types.js';
import { argRangeError, argTypeError } from '../validate.js';

/** Limits that bound the time and memory spent on a header. All are optional. */
export interface GgufReadOptions {
  /** Longest string value or key, in bytes. Default 64 MiB. */
  maxStringLength?: number;
  /** Most elements in one array value. Default 2^26. */
  maxArrayLength?: number;
  /** Most tensors. Default 2^20. */
  maxTensorCount?: number;
  /** Most metadata key/value pairs. Default 2^20. */
  maxKvCount?: number;
  /** Most bytes the header (everything before the data section) may take. Default 1 GiB. */
  maxHeaderBytes?: number;
}

/** Description of one tensor; its data is not read. */
export interface GgufTensorInfo {
  /** Tensor name, e.g. `blk.0.attn_q.weight`. */
  name: string;
  /** Shape in ggml order: `dims[0]` (ne0) is the contiguous row length. */
  dims: number[];
  /** ggml type number (`enum ggml_type` in ggml.h: 0 F32, 1 F16, 8 Q8_0, …). */
  type: number;
  /** ggml type name, e.g. `Q8_0`. */
  typeName: string;
  /** Offset of the data relative to {@link GgufFile.dataOffset}. */
  offset: number;
  /** Size of the data in bytes (without alignment padding). */
  byteSize: number;
}

/** Everything in a GGUF file except the tensor data. */
export interface GgufFile {
  /** Format version: 2 or 3. */
  version: number;
  /**
   * Metadata in file order, each value with its GGUF type. Array values are included,
   * within {@link GgufReadOptions.maxArrayLength}. The object has no prototype, so keys
   * such as `__proto__` are plain entries.
   */
  metadata: Record<string, GgufValue>;
  /** Tensor descriptions in file order. */
  tensors: GgufTensorInfo[];
  /** Alignment of the data section and of every tensor offset. */
  alignment: number;
  /** Absolute file offset where the tensor data section starts. */
  dataOffset: number;
  /** Size of the file in bytes when it was opened. */
  fileSize: number;
}

const DEFAULTS: Required<GgufReadOptions> = {
  maxStringLength: 64 << 20,
  maxArrayLength: 1 << 26,
  maxTensorCount: 1 << 20,
  maxKvCount: 1 << 20,
  maxHeaderBytes: 1 << 30,
};

/** Smallest possible encodings, used to reject counts the rest of the file cannot hold. */
const MIN_KV_BYTES = 8 + 1 + 4 + 1; // key length, 1-byte key, type, 1-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8; // name length, 1-byte name, n_dims, ne0, type, offset

function resolveOptions(options: GgufReadOptions | undefined): Required<GgufReadOptions> {
  if (options === undefined) return DEFAULTS;
  if (typeof options !== 'object' || options === null) {
    throw argTypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const resolved = { ...DEFAULTS };
  for (const key of Object.keys(options) as (keyof GgufReadOptions)[]) {
    if (!Object.hasOwn(DEFAULTS, key)) throw argTypeError(`options.${key} is not a known option`);
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number') throw argTypeError(`options.${key} must be a number, got ${typeof value}`);
    if (!Number.isSafeInteger(value) || value < 1) {
      throw argRangeError(`options.${key} must be a positive integer, got ${value}`);
    }
    resolved[key] = value;
  }
  return resolved;
}

/** A 64-bit integer as a number when exact, else as a bigint. */
function int64Value(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Bytes of fixed-size array items decoded per read. */
const BATCH_BYTES = 1 << 16;

/** Decoders of fixed-size values at `offset` of a buffer; `undefined` marks an invalid bool. */
const DECODERS: Readonly<Record<Exclude<GgufScalarType, 'string'>, (buf: Buffer, offset: number) => number | bigint | boolean | undefined>> = {
  uint8: (b, o) => b.readUInt8(o),
  int8: (b, o) => b.readInt8(o),
  uint16: (b, o) => b.readUInt16LE(o),
  int16: (b, o) => b.readInt16LE(o),
  uint32: (b, o) => b.readUInt32LE(o),
  int32: (b, o) => b.readInt32LE(o),
  float32: (b, o) => b.readFloatLE(o),
  float64: (b, o) => b.readDoubleLE(o),
  uint64: (b, o) => int64Value(b.readBigUInt64LE(o)),
  int64: (b, o) => int64Value(b.readBigInt64LE(o)),
  bool: (b, o) => (b[o] === 0 ? false : b[o] === 1 ? true : undefined),
};

/** Parses the header of one file; owns nothing, the caller closes the handle. */
class HeaderParser {
  readonly #c: HeaderCursor;
  readonly #limits: Required<GgufReadOptions>;

  constructor(cursor: HeaderCursor, limits: Required<GgufReadOptions>) {
    this.#c = cursor;
    this.#limits = limits;
  }

  async parse(fileSize: number): Promise<GgufFile> {
    const c = this.#c;
    if (fileSize === 0) throw c.invalid('file is empty');
    const magic = await c.bytes(4, 'magic');
    if (magic.toString('latin1') !== GGUF_MAGIC) {
      throw c.invalid(`bad magic at byte 0: expected 'GGUF' (47 47 55 46), found ${magic.toString('hex').replace(/(..)(?!$)/g, '$1 ')}`);
    }
    const version = await this.#version();
    const tensorCount = await this.#count('tensor count', this.#limits.maxTensorCount, MIN_TENSOR_INFO_BYTES, 8);
    const kvCount = await this.#count('metadata key/value count', this.#limits.maxKvCount, MIN_KV_BYTES, 0);

    const metadata: Record<string, GgufValue> = Object.create(null) as Record<string, GgufValue>;
    for (let i = 0; i < kvCount; i++) {
      const at = c.offset;
      const key = await this.#string(`key of metadata entry ${i}`);
      if (key.length === 0) throw c.invalid(`metadata entry ${i} at byte ${at} has an empty key`);
      if (Object.hasOwn(metadata, key)) throw c.invalid(`duplicate metadata key '${key}' at byte ${at}`);
      metadata[key] = await this.#value(key);
    }

    const alignment = this.#alignment(metadata);
    const tensors: GgufTensorInfo[] = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const info = await this.#tensorInfo(i, alignment);
      if (names.has(info.name)) throw c.invalid(`duplicate tensor name '${info.name}' (tensor ${i})`);
      names.add(info.name);
      tensors.push(info);
    }

    // llama.cpp pads the header to the alignment only when there is tensor data.
    const dataOffset = tensorCount > 0 ? alignUp(c.offset, alignment) : c.offset;
    if (dataOffset > fileSize) {
      throw c.invalid(`file is truncated: the data section starts at byte ${dataOffset} but the file has ${fileSize} bytes`);
    }
    checkTensorExtents(c, tensors, fileSize - dataOffset);
    return { version, metadata, tensors, alignment, dataOffset, fileSize };
  }

  async #version(): Promise<number> {
    const version = await this.#c.u32('version');
    if (version === 2 || version === 3) return version;
    if (version === 1) throw this.#c.invalid('GGUF version 1 (at byte 4) is no longer supported');
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    const hint = swapped >= 1 && swapped <= 3 ? ' (a big-endian file?)' : '';
    throw this.#c.invalid(`unsupported GGUF version ${version} at byte 4${hint}: only versions 2 and 3 can be read`);
  }

  /**
   * Reads a uint64 count and checks it against `limit` and against what the rest of the
   * file can hold at `minBytes` each (plus `reserve` bytes that must still follow).
   */
  async #count(what: string, limit: number, minBytes: number, reserve: number): Promise<number> {
    const at = this.#c.offset;
    const raw = await this.#c.u64(what);
    if (raw > BigInt(limit)) throw this.#c.invalid(`${what} ${raw} at byte ${at} exceeds the limit of ${limit}`);
    const count = Number(raw);
    if (count * minBytes > this.#c.remaining - reserve) {
      throw this.#c.invalid(`${what} ${count} at byte ${at} cannot fit in the ${this.#c.remaining} bytes left in the file`);
    }
    return count;
  }

  /** A string decoded without awaiting when it is already buffered, else `undefined`. */
  #bufferedString(): string | undefined {
    const c = this.#c;
    const at = c.peek(8);
    if (at < 0) return undefined;
    const buf = c.buffer;
    const length = buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 2 ** 32; // exact below 2^53
    if (length > this.#limits.maxStringLength || c.peek(8 + length) < 0) return undefined; // the slow path reports it
    c.skip(8 + length);
    return buf.toString('utf8', at + 8, at + 8 + length);
  }

  async #string(what: string, maxLength = this.#limits.maxStringLength): Promise<string> {
    const c = this.#c;
    const at = c.offset;
    const length = await c.u64(`length of ${what}`);
    if (length > BigInt(maxLength)) {
      throw c.invalid(`${what} at byte ${at} has length ${length}, more than the limit of ${maxLength} bytes`);
    }
    const n = Number(length);
    if (n > c.remaining) throw c.invalid(`file is truncated: ${what} at byte ${at} has length ${n}, only ${c.remaining} bytes remain`);
    // Invalid UTF-8 becomes U+FFFD; llama.cpp does not validate it either.
    return (await c.bytes(n, what)).toString('utf8');
  }

  async #typeId(what: string): Promise<string> {
    const at = this.#c.offset;
    const id = await this.#c.u32(what);
    const name = GGUF_VALUE_TYPE_NAMES[id];
    if (name === undefined) throw this.#c.invalid(`${what} at byte ${at} is ${id}, not a known GGUF value type`);
    return name;
  }

  async #value(key: string): Promise<GgufValue> {
    const c = this.#c;
    const type = await this.#typeId(`value type of '${key}'`);
    if (type !== 'array') return this.#scalar(type as GgufScalarType, `value of '${key}'`);

    const itemType = (await this.#typeId(`item type of array '${key}'`)) as GgufScalarType | 'array';
    if (itemType === 'array') throw c.invalid(`metadata key '${key}' is a nested array, which llama.cpp does not support`);
    const at = c.offset;
    const length = await c.u64(`length of array '${key}'`);
    if (length > BigInt(this.#limits.maxArrayLength)) {
      throw c.invalid(`array '${key}' at byte ${at} has ${length} items, more than the limit of ${this.#limits.maxArrayLength}`);
    }
    const n = Number(length);
    const minItem = itemType === 'string' ? 8 : GGUF_SCALAR_SIZE[itemType];
    if (n * minItem > c.remaining) {
      throw c.invalid(`file is truncated: array '${key}' at byte ${at} has ${n} items, which cannot fit in the ${c.remaining} bytes left`);
    }
    const items: unknown[] = new Array(n);
    if (itemType === 'string') {
      for (let i = 0; i < n; i++) items[i] = this.#bufferedString() ?? (await this.#string(`item ${i} of array '${key}'`));
    } else {
      // Fixed-size items are decoded in batches: one await per 64 KiB, not per item.
      const size = GGUF_SCALAR_SIZE[itemType];
      const decode = DECODERS[itemType];
      const perBatch = Math.floor(BATCH_BYTES / size);
      for (let i = 0; i < n; ) {
        const batchAt = c.offset;
        const k = Math.min(perBatch, n - i);
        const buf = await c.bytes(k * size, `items ${i}..${i + k - 1} of array '${key}'`);
        for (let j = 0; j < k; j++, i++) {
          const value = decode(buf, j * size);
          if (value === undefined) throw c.invalid(`item ${i} of array '${key}' at byte ${batchAt + j * size} is not a bool (0 or 1)`);
          items[i] = value;
        }
      }
    }
    return { type: 'array', itemType, value: items } as GgufValue;
  }

  async #scalar(type: GgufScalarType, what: string): Promise<GgufValue> {
    const c = this.#c;
    switch (type) {
      case 'uint8': return { type, value: await c.u8(what) };
      case 'int8': return { type, value: await c.i8(what) };
      case 'uint16': return { type, value: await c.u16(what) };
      case 'int16': return { type, value: await c.i16(what) };
      case 'uint32': return { type, value: await c.u32(what) };
      case 'int32': return { type, value: await c.i32(what) };
      case 'float32': return { type, value: await c.f32(what) };
      case 'float64': return { type, value: await c.f64(what) };
      case 'uint64': return { type, value: int64Value(await c.u64(what)) };
      case 'int64': return { type, value: int64Value(await c.i64(what)) };
      case 'string': return { type, value: await this.#string(what) };
      case 'bool': {
        const at = c.offset;
        const byte = await c.u8(what);
        if (byte > 1) throw c.invalid(`${what} at byte ${at} is ${byte}, not a bool (0 or 1)`);
        return { type, value: byte === 1 };
      }
    }
  }

  #alignment(metadata: Record<string, GgufValue>): number {
    const entry = metadata[GGUF_KEY_ALIGNMENT];
    if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
    if (entry.type !== 'uint32') throw this.#c.invalid(`'${GGUF_KEY_ALIGNMENT}' must be a uint32, found ${entry.type}`);
    const value = entry.value;
    if (value === 0 || (value & (value - 1)) !== 0) {
      throw this.#c.invalid(`'${GGUF_KEY_ALIGNMENT}' is ${value}, not a power of two`);
    }
    return value;
  }

  async #tensorInfo(index: number, alignment: number): Promise<GgufTensorInfo> {
    const c = this.#c;
    const at = c.offset;
    const name = await this.#string(`name of tensor ${index}`, GGML_MAX_NAME_BYTES);
    if (name.length === 0) throw c.invalid(`tensor ${index} at byte ${at} has an empty name`);
    const where = `tensor '${name}' (byte ${at})`;

    const nDims = await c.u32(`dimension count of ${where}`);
    if (nDims < 1 || nDims > GGML_MAX_DIMS) throw c.invalid(`${where} has ${nDims} dimensions, expected 1 to ${GGML_MAX_DIMS}`);
    const dims: number[] = [];
    let elements = 1n;
    for (let j = 0; j < nDims; j++) {
      const ne = await c.i64(`dimension ${j} of ${where}`);
      if (ne < 1n) throw c.invalid(`${where} has dimension ${j} = ${ne}, expected at least 1`);
      elements *= ne;
      if (elements > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw c.invalid(`${where} has more than 2^53 elements (dimensions overflow)`);
      }
      dims.push(Number(ne));
    }

    const type = await c.i32(`type of ${where}`);
    const traits = ggmlTypeTraits(type);
    if (traits === undefined) throw c.invalid(`${where} has unknown ggml type ${type}`);
    const size = tensorByteSize(traits, dims);
    if (size === undefined) {
      throw c.invalid(`${where} of type ${traits.name} has ${dims[0]} elements per row, not a multiple of the block size ${traits.blockSize}`);
    }
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw c.invalid(`${where} is larger than 2^53 bytes`);

    const offsetAt = c.offset;
    const offset = await c.u64(`data offset of ${where}`);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER) || Number(offset) % alignment !== 0) {
      throw c.invalid(`${where} has data offset ${offset} (at byte ${offsetAt}), not a multiple of the alignment ${alignment}`);
    }
    return { name, dims, type, typeName: traits.name, offset: Number(offset), byteSize: Number(size) };
  }
}

/** Checks that every tensor's data lies inside the data section and none overlap. */
function checkTensorExtents(c: HeaderCursor, tensors: readonly GgufTensorInfo[], dataSize: number): void {
  for (const t of tensors) {
    if (t.offset + t.byteSize > dataSize) {
      throw c.invalid(
        `file is truncated: tensor '${t.name}' needs bytes ${t.offset}..${t.offset + t.byteSize} of a data section of ${dataSize} bytes`,
      );
    }
  }
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const next = sorted[i]!;
    if (prev.offset + prev.byteSize > next.offset) {
      throw c.invalid(`tensors '${prev.name}' and '${next.name}' overlap in the data section (offsets ${prev.offset} and ${next.offset})`);
    }
  }
}

/**
 * Reads and validates the header of a GGUF file (version 2 or 3): metadata with typed
 * values, tensor descriptions, alignment and where the data starts. Tensor data is not
 * read; the header is read incrementally, so memory stays bounded by the limits in
 * `options` whatever the file contains.
 *
 * @param path - path of the file
 * @param options - limits on counts and lengths (see {@link GgufReadOptions})
 * @throws {LlamaError} `ERR_FILE_NOT_FOUND` when nothing exists at `path`;
 *   `ERR_NOT_A_FILE` for a directory, device, FIFO or unreadable path;
 *   `ERR_GGUF_INVALID` when the content is not a valid GGUF file (the message names the
 *   problem and its byte offset or key).
 * @throws {TypeError | RangeError} for invalid arguments.
 */
export async function readGguf(path: string, options?: GgufReadOptions): Promise<GgufFile> {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw argTypeError(`path must be a non-empty string without NUL characters, got ${typeof path === 'string' ? JSON.stringify(path) : typeof path}`);
  }
  const limits = resolveOptions(options);
  const { fh, size } = await openRegularFile(path);
  try {
    const cursor = new HeaderCursor(fh, size, limits.maxHeaderBytes, `GGUF file '${path}'`);
    return await new HeaderParser(cursor, limits).parse(size);
  } finally {
    await fh.close();
  }
}
