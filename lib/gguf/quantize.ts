/**
 * Row encoders from float32 to the tensor types the writer produces: F16 and Q8_0.
 * Both match ggml's reference code bit for bit (`ggml_compute_fp32_to_fp16`,
 * `quantize_row_q8_0_ref` in ggml-quants.c), so a file written here equals what
 * llama.cpp's own tools would write for the same values.
 */
import { argRangeError } from '../validate.js';

/** Elements per Q8_0 block (`QK8_0`). */
export const Q8_0_BLOCK_SIZE = 32;
/** Bytes per Q8_0 block: an f16 scale and 32 int8 quants. */
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK_SIZE;

// Typed-array views are in host byte order; GGUF is little-endian. Every platform Node
// supports in practice is little-endian, and this makes a big-endian host fail loudly.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new Error('GGUF encoders need a little-endian host');
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half-precision bits of a float32 bit pattern, rounding to nearest even. */
function halfFromFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // Inf, or a quiet NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too large: infinity
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit 1, into place.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) !== 0)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) !== 0)) half++;
  return sign | half;
}

/** IEEE half-precision bits (as a number 0..65535) of `value`, rounded to nearest even. */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  return halfFromFloatBits(u32Scratch[0]!);
}

/** The value of half-precision bits `bits` (0..65535). */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Encodes float32 values as little-endian F16.
 *
 * @param src - the values
 * @param dst - where to write `src.length * 2` bytes (byteOffset must be even); allocated when omitted
 * @returns `dst`, or the new buffer
 */
export function encodeF16(src: Float32Array, dst?: Uint8Array): Uint8Array {
  assertLittleEndian();
  const out = dst ?? new Uint8Array(src.length * 2);
  if (out.length < src.length * 2) throw argRangeError(`dst must hold ${src.length * 2} bytes, got ${out.length}`);
  if (out.byteOffset % 2 !== 0) throw argRangeError(`dst.byteOffset must be even, got ${out.byteOffset}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const halves = new Uint16Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) halves[i] = halfFromFloatBits(bits[i]!);
  return out;
}

/** `roundf`: rounds halves away from zero (Math.round rounds them up). */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Encodes float32 values as Q8_0 blocks: per 32 values, an f16 scale `d = max|x| / 127`
 * and 32 int8 quants `round(x / d)`, exactly as `quantize_row_q8_0_ref`.
 *
 * @param src - the values; the length must be a multiple of 32
 * @param dst - where to write `src.length / 32 * 34` bytes; allocated when omitted
 * @returns `dst`, or the new buffer
 */
export function encodeQ8_0(src: Float32Array, dst?: Uint8Array): Uint8Array {
  assertLittleEndian();
  if (src.length % Q8_0_BLOCK_SIZE !== 0) {
    throw argRangeError(`Q8_0 needs a multiple of ${Q8_0_BLOCK_SIZE} values, got ${src.length}`);
  }
  const blocks = src.length / Q8_0_BLOCK_SIZE;
  const out = dst ?? new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  if (out.length < blocks * Q8_0_BLOCK_BYTES) throw argRangeError(`dst must hold ${blocks * Q8_0_BLOCK_BYTES} bytes, got ${out.length}`);
  const quants = new Int8Array(out.buffer, out.byteOffset, out.length);
  for (let b = 0; b < blocks; b++) {
    const base = b * Q8_0_BLOCK_SIZE;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) amax = Math.max(amax, Math.abs(src[base + j]!));
    // Math.fround reproduces the C code's float (not double) arithmetic.
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = b * Q8_0_BLOCK_BYTES;
    const h = f32ToF16Bits(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) quants[o + 2 + j] = roundHalfAway(Math.fround(src[base + j]! * id));
  }
  return out;
}

/** Decodes Q8_0 blocks back to float32 values (`scale * quant`), e.g. to check an encoding. */
export function decodeQ8_0(src: Uint8Array): Float32Array {
  if (src.length % Q8_0_BLOCK_BYTES !== 0) throw argRangeError(`Q8_0 data must be a multiple of ${Q8_0_BLOCK_BYTES} bytes, got ${src.length}`);
  const blocks = src.length / Q8_0_BLOCK_BYTES;
  const out = new Float32Array(blocks * Q8_0_BLOCK_SIZE);
  const quants = new Int8Array(src.buffer, src.byteOffset, src.length);
  for (let b = 0; b < blocks; b++) {
    const o = b * Q8_0_BLOCK_BYTES;
    const d = f16BitsToF32(src[o]! | (src[o + 1]! << 8));
    for (let j = 0; j < Q8_0_BLOCK_SIZE; j++) out[b * Q8_0_BLOCK_SIZE + j] = d * quants[o + 2 + j]!;
  }
  return out;
}
