/**
 * The few numeric kernels the reference forward pass needs, written for clarity.
 *
 * Convention (as in ggml's CPU backend): activations live in Float32Arrays, so every op's
 * result is rounded to float32, while sums are accumulated in float64 (JS numbers). The
 * differences from ggml are then only summation order and f32 rounding inside SIMD loops,
 * orders of magnitude below anything a wrong graph would produce.
 */
import { f16BitsToF32, f32ToF16Bits } from '../../lib/gguf/index.js';

/**
 * `y = W x` for a ggml weight of dims [ne0, ne1] whose matrix starts at `offset` in `w`
 * (an expert's slice of a merged 3-D tensor starts at `e * ne0 * ne1`):
 * `y[j] = Σ_i W[offset + j*ne0 + i] * x[i]`.
 */
export function matvec(w: Float32Array, ne0: number, ne1: number, x: Float32Array, offset = 0): Float32Array {
  if (x.length !== ne0) throw new RangeError(`matvec: x has ${x.length} values, W rows have ${ne0}`);
  const y = new Float32Array(ne1);
  for (let j = 0; j < ne1; j++) {
    const row = offset + j * ne0;
    let sum = 0;
    for (let i = 0; i < ne0; i++) sum += w[row + i]! * x[i]!;
    y[j] = sum;
  }
  return y;
}

/**
 * RMS norm times the weight, as ggml_rms_norm then ggml_mul: `x / sqrt(mean(x²) + eps) * w`.
 * ggml sums the squares in double and takes `1/sqrtf(...)` in float; the same up to rounding.
 */
export function rmsNorm(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * x[i]!;
  const scale = Math.fround(1 / Math.sqrt(sum / x.length + eps));
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = Math.fround(x[i]! * scale) * weight[i]!;
  return y;
}

/**
 * Which elements RoPE rotates together. `adjacent` (x[2i], x[2i+1]) is ggml's mode 0,
 * LLAMA_ROPE_TYPE_NORM, which LLM_ARCH_LLAMA uses. `neox` (x[i], x[i + n_rot/2]) is
 * GGML_ROPE_TYPE_NEOX: here only as a deliberately wrong variant.
 */
export type RopePairing = 'adjacent' | 'neox';

/**
 * Rotates each `headDim`-sized head of `x` in place for position `pos`: pair i is turned by
 * `theta_i = pos * freqBase^(-2i/nRot)` (ggml_rope_cache_init with freq_scale 1, no YaRN).
 */
export function ropeInPlace(x: Float32Array, headDim: number, nRot: number, pos: number, freqBase: number, pairing: RopePairing): void {
  const stride = pairing === 'adjacent' ? 1 : nRot / 2; // distance between the two of a pair
  for (let head = 0; head < x.length; head += headDim) {
    for (let i = 0; i < nRot / 2; i++) {
      const theta = pos * Math.pow(freqBase, (-2 * i) / nRot);
      const cos = Math.cos(theta);
      const sin = Math.sin(theta);
      const a = head + (pairing === 'adjacent' ? 2 * i : i);
      const b = a + stride;
      const x0 = x[a]!;
      const x1 = x[b]!;
      x[a] = x0 * cos - x1 * sin;
      x[b] = x0 * sin + x1 * cos;
    }
  }
}

/** Numerically stable softmax, in float64. */
export function softmax(values: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  const out = new Float64Array(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += out[i] = Math.exp(values[i]! - max);
  for (let i = 0; i < values.length; i++) out[i]! /= sum;
  return out;
}

/** SiLU: `x * sigmoid(x)`. */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** `x` rounded to IEEE half precision (nearest even), as ggml's fp32→fp16 conversion. */
export function f16Round(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/** A copy of `x` with every value rounded to half precision. */
export function f16RoundAll(x: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = f16Round(x[i]!);
  return y;
}

/** Index of the largest value (the first, on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Indices of the `k` largest values, largest first. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (top.length === k && values[i]! <= values[top[k - 1]!]!) continue;
    let at = Math.min(top.length, k - 1);
    top[at] = i;
    while (at > 0 && values[top[at - 1]!]! < values[i]!) {
      top[at] = top[at - 1]!;
      top[--at] = i;
    }
  }
  return top;
}
