/**
 * Sequential little-endian reads from the start of an open file, through a buffer that
 * holds only the bytes not yet consumed. The header of a GGUF file is parsed with it
 * without ever reading the (possibly many-gigabyte) tensor data behind it.
 * @internal
 */
import type { FileHandle } from 'node:fs/promises';
import { LlamaError } from '../errors.js';

/** Bytes read from the file at a time when less is needed; amortises the syscalls. */
const READ_CHUNK = 1 << 16;

/** @internal */
export class HeaderCursor {
  readonly #fh: FileHandle;
  readonly #fileSize: number;
  readonly #limit: number;
  readonly #describe: string;
  #buf: Buffer = Buffer.alloc(0);
  /** File offset of `#buf[0]`. */
  #bufStart = 0;
  /** Number of valid bytes in `#buf`. */
  #bufLen = 0;
  #pos = 0;

  /**
   * @param fh - the open file
   * @param fileSize - its size in bytes, taken once so a growing file cannot make reads endless
   * @param limit - most header bytes that may be consumed (bounds memory and time)
   * @param describe - how to name the file in error messages
   */
  constructor(fh: FileHandle, fileSize: number, limit: number, describe: string) {
    this.#fh = fh;
    this.#fileSize = fileSize;
    this.#limit = limit;
    this.#describe = describe;
  }

  /** File offset of the next byte to be consumed. */
  get offset(): number {
    return this.#pos;
  }

  /** Bytes between the read position and the end of the file. */
  get remaining(): number {
    return this.#fileSize - this.#pos;
  }

  /** A `ERR_GGUF_INVALID` error that names the file. */
  invalid(message: string): LlamaError {
    return new LlamaError('ERR_GGUF_INVALID', `${this.#describe}: ${message}`);
  }

  /**
   * Index in {@link buffer} of the `n` bytes at the read position when they are already
   * buffered (and within the header budget), else -1. Consumes nothing; lets hot loops
   * such as a 32,000-string vocabulary skip an `await` per item.
   */
  peek(n: number): number {
    const at = this.#pos;
    if (at + n > this.#bufStart + this.#bufLen || at + n > this.#limit) return -1;
    return at - this.#bufStart;
  }

  /** The internal buffer, for use with {@link peek}. */
  get buffer(): Buffer {
    return this.#buf;
  }

  /** Consumes `n` bytes that {@link peek} reported as buffered. */
  skip(n: number): void {
    this.#pos += n;
  }

  /** Consumes `n` bytes and returns them as a view valid until the next read. */
  async bytes(n: number, what: string): Promise<Buffer> {
    const start = await this.#take(n, what);
    return this.#buf.subarray(start, start + n);
  }

  async u8(what: string): Promise<number> {
    return this.#buf.readUInt8(await this.#take(1, what));
  }
  async i8(what: string): Promise<number> {
    return this.#buf.readInt8(await this.#take(1, what));
  }
  async u16(what: string): Promise<number> {
    return this.#buf.readUInt16LE(await this.#take(2, what));
  }
  async i16(what: string): Promise<number> {
    return this.#buf.readInt16LE(await this.#take(2, what));
  }
  async u32(what: string): Promise<number> {
    return this.#buf.readUInt32LE(await this.#take(4, what));
  }
  async i32(what: string): Promise<number> {
    return this.#buf.readInt32LE(await this.#take(4, what));
  }
  async u64(what: string): Promise<bigint> {
    return this.#buf.readBigUInt64LE(await this.#take(8, what));
  }
  async i64(what: string): Promise<bigint> {
    return this.#buf.readBigInt64LE(await this.#take(8, what));
  }
  async f32(what: string): Promise<number> {
    return this.#buf.readFloatLE(await this.#take(4, what));
  }
  async f64(what: string): Promise<number> {
    return this.#buf.readDoubleLE(await this.#take(8, what));
  }

  /**
   * Makes `n` bytes at the read position available, consumes them and returns their index
   * in `#buf`. Fails with a message naming the offset when the file or the header budget
   * ends first.
   */
  async #take(n: number, what: string): Promise<number> {
    const at = this.#pos;
    if (n > this.#fileSize - at) {
      throw this.invalid(`file is truncated: ${what} at byte ${at} needs ${n} bytes, only ${this.#fileSize - at} remain`);
    }
    if (at + n > this.#limit) {
      throw this.invalid(`header is larger than the limit of ${this.#limit} bytes (reading ${what} at byte ${at})`);
    }
    if (at + n > this.#bufStart + this.#bufLen) await this.#fill(n, what);
    this.#pos = at + n;
    return at - this.#bufStart;
  }

  /** Refills the buffer so that it holds at least `n` bytes from the read position. */
  async #fill(n: number, what: string): Promise<void> {
    const keepFrom = this.#pos - this.#bufStart;
    const kept = this.#bufLen - keepFrom;
    const want = Math.min(Math.max(n, READ_CHUNK), this.#fileSize - this.#pos);
    // Drop consumed bytes; grow only when the unconsumed part plus `want` does not fit.
    const target = this.#buf.length >= want ? this.#buf : Buffer.allocUnsafe(want);
    this.#buf.copy(target, 0, keepFrom, this.#bufLen);
    this.#buf = target;
    this.#bufStart = this.#pos;
    this.#bufLen = kept;
    while (this.#bufLen < want) {
      const { bytesRead } = await this.#fh.read(this.#buf, this.#bufLen, want - this.#bufLen, this.#bufStart + this.#bufLen);
      if (bytesRead === 0) {
        // The file shrank after its size was taken.
        throw this.invalid(`file is truncated: ${what} at byte ${this.#pos} could not be read`);
      }
      this.#bufLen += bytesRead;
    }
  }
}
