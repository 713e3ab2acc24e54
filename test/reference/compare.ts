/**
 * How close the binding's logits must be to the reference's, and why.
 *
 * Measured on the F32 fixtures (2 to 27 tokens, x86 CPU build):
 * - reference mirroring llama.cpp's F16 KV cache and CPU flash attention: max |Δ| ≤ 3e-5;
 * - reference attending in exact F32/F64 (no F16 rounding anywhere): max |Δ| ≈ 1–2e-3;
 * - the smallest deliberate bug (NEOX rope pairing on a 2-token prompt) gives ≈ 0.3, and
 *   the others 0.9 to 6, with logit ranges of ≈ 8.
 *
 * The tolerance, 1e-3 of the logit range (≈ 8e-3), sits above the F16-rounding effect
 * with ≈ 4× margin, so it holds for any backend kernel that attends in F16 or F32 (other
 * CPUs, GPU builds), and ≈ 40× below the smallest bug.
 */

/** Tolerance as a fraction of the reference logits' range (max − min). */
export const LOGIT_TOLERANCE_OF_RANGE = 1e-3;

/** The outcome of comparing two logit vectors. */
export interface LogitComparison {
  /** Largest |got[i] − want[i]|. */
  maxAbsDiff: number;
  /** max − min of `want`. */
  range: number;
  /** `LOGIT_TOLERANCE_OF_RANGE × range`. */
  tolerance: number;
}

/** Compares `got` with the reference logits `want`. */
export function compareLogits(got: Float32Array, want: Float32Array): LogitComparison {
  if (got.length !== want.length) throw new RangeError(`got ${got.length} logits, want ${want.length}`);
  let maxAbsDiff = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < want.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got[i]! - want[i]!));
    lo = Math.min(lo, want[i]!);
    hi = Math.max(hi, want[i]!);
  }
  // NaN anywhere must fail, not compare false against the tolerance.
  if (got.some(Number.isNaN)) maxAbsDiff = Infinity;
  const range = hi - lo;
  return { maxAbsDiff, range, tolerance: LOGIT_TOLERANCE_OF_RANGE * range };
}
