/**
 * Small statistics helpers for the benchmark. Medians rather than means: on a shared 2-core
 * machine one disturbed sample (a background job, a page-cache miss) should not move the
 * headline number, and both sides are summarised the same way.
 */

/** Median of `values` (mean of the two middle values for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Smallest value; NaN when empty. */
export function min(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : Math.min(...values);
}

/** Largest value; NaN when empty. */
export function max(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : Math.max(...values);
}

/**
 * Relative spread `(max - min) / median`, to judge whether a ratio near a target is signal or
 * noise: a 1% target cannot be decided from samples that spread 5%.
 */
export function spread(values: readonly number[]): number {
  const m = median(values);
  return values.length < 2 || !(m > 0) ? 0 : (max(values) - min(values)) / m;
}

/** Formats a number with `digits` decimals, or `n/a` for NaN/undefined. */
export function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

/** Formats a ratio as a percentage (`0.987` → `98.7%`). */
export function pct(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? 'n/a' : `${(value * 100).toFixed(1)}%`;
}

/** A target's verdict: `PASS` when met, `MISS` when not. */
export function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}

/** Formats a byte count in MiB. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Renders rows as a left/right aligned plain-text table (first column left, others right). */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ');
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(header), rule, ...rows.map(line)].join('\n');
}
