/**
 * Serialisation of the GGUF header (metadata and tensor descriptions) into bytes, with
 * every value checked against its declared type first, so a bad value is reported by
 * key instead of producing a file llama.cpp would misread.
 * @internal
 */
import { GGUF_SCALAR_SIZE, GgufValueTypeId, type GgufScalarType, type GgufValue } from './types.js';
import { argRangeError, argTypeError } from '../validate.js';

const INT_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  uint8: [0n, 0xffn],
  int8: [-0x80n, 0x7fn],
  uint16: [0n, 0xffffn],
  int16: [-0x8000n, 0x7fffn],
  uint32: [0n, 0xffffffffn],
  int32: [-0x80000000n, 0x7fffffffn],
  uint64: [0n, 0xffffffffffffffffn],
  int64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : String(value);
}

/** Throws a TypeError/RangeError naming `where` unless `value` fits scalar type `type`. */
function checkScalar(type: GgufScalarType, value: unknown, where: string): void {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw argTypeError(`${where} must be a string, got ${describe(value)}`);
      return;
    case 'bool':
      if (typeof value !== 'boolean') throw argTypeError(`${where} must be a boolean, got ${describe(value)}`);
      return;
    case 'float32':
    case 'float64':
      if (typeof value !== 'number') throw argTypeError(`${where} must be a number, got ${describe(value)}`);
      return;
    default: {
      const [min, max] = INT_RANGES[type]!;
      const is64 = type === 'uint64' || type === 'int64';
      if (typeof value === 'bigint' && is64) {
        if (value < min || value > max) throw argRangeError(`${where} must be a ${type} (${min} to ${max}), got ${value}n`);
        return;
      }
      if (typeof value !== 'number') throw argTypeError(`${where} must be ${is64 ? 'a number or bigint' : 'a number'}, got ${describe(value)}`);
      if (!Number.isSafeInteger(value) || BigInt(value) < min || BigInt(value) > max) {
        throw argRangeError(`${where} must be a ${type} (${min} to ${max}), got ${value}`);
      }
    }
  }
}

/** Accumulates header bytes as a list of buffers. */
export class HeaderBuilder {
  readonly #parts: Buffer[] = [];
  #length = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  raw(bytes: Buffer): void {
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  u32(value: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(value);
    this.raw(b);
  }

  i32(value: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32LE(value);
    this.raw(b);
  }

  u64(value: number | bigint): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(BigInt(value));
    this.raw(b);
  }

  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.raw(bytes);
  }

  /** Appends one value of scalar type `type`, which the caller has checked. */
  scalar(type: GgufScalarType, value: unknown): void {
    if (type === 'string') return this.string(value as string);
    const b = Buffer.allocUnsafe(GGUF_SCALAR_SIZE[type]);
    switch (type) {
      case 'uint8': b.writeUInt8(value as number); break;
      case 'int8': b.writeInt8(value as number); break;
      case 'uint16': b.writeUInt16LE(value as number); break;
      case 'int16': b.writeInt16LE(value as number); break;
      case 'uint32': b.writeUInt32LE(value as number); break;
      case 'int32': b.writeInt32LE(value as number); break;
      case 'float32': b.writeFloatLE(value as number); break;
      case 'float64': b.writeDoubleLE(value as number); break;
      case 'bool': b.writeUInt8(value ? 1 : 0); break;
      case 'uint64': b.writeBigUInt64LE(BigInt(value as number | bigint)); break;
      case 'int64': b.writeBigInt64LE(BigInt(value as number | bigint)); break;
    }
    this.raw(b);
  }

  /** Appends one metadata entry after checking its value against its declared type. */
  keyValue(key: string, entry: GgufValue): void {
    const where = `metadata['${key}']`;
    if (typeof key !== 'string' || key.length === 0) throw argTypeError(`metadata keys must be non-empty strings, got ${describe(key)}`);
    if (typeof entry !== 'object' || entry === null) throw argTypeError(`${where} must be { type, value }, got ${describe(entry)}`);
    const type = (entry as { type: unknown }).type;
    if (typeof type !== 'string' || !Object.hasOwn(GgufValueTypeId, type)) {
      throw argTypeError(`${where}.type must be a GGUF value type name, got ${describe(type)}`);
    }
    if (entry.type !== 'array') {
      checkScalar(entry.type, entry.value, `${where}.value`);
      this.string(key);
      this.u32(GgufValueTypeId[entry.type]);
      this.scalar(entry.type, entry.value);
      return;
    }
    const itemType = (entry as { itemType: unknown }).itemType;
    if (typeof itemType !== 'string' || !Object.hasOwn(GgufValueTypeId, itemType) || itemType === 'array') {
      throw argTypeError(`${where}.itemType must be a scalar GGUF value type name, got ${describe(itemType)}`);
    }
    const items: unknown = entry.value;
    if (!Array.isArray(items)) throw argTypeError(`${where}.value must be an array, got ${describe(items)}`);
    items.forEach((item, i) => checkScalar(entry.itemType, item, `${where}.value[${i}]`));
    this.string(key);
    this.u32(GgufValueTypeId.array);
    this.u32(GgufValueTypeId[entry.itemType]);
    this.u64(items.length);
    for (const item of items) this.scalar(entry.itemType, item);
  }

  /** The bytes written, as one buffer. */
  toBuffer(): Buffer {
    return Buffer.concat(this.#parts, this.#length);
  }
}
