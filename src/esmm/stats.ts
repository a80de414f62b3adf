/**
 * Summaries for comparisons over seeds and over simulated sessions: mean, sample standard deviation,
 * and the paired difference of two matched series with its 95% interval (Student's t for small n).
 * Paired: run i of model A and run i of model B share a seed (or a session), so their difference
 * removes what the pair has in common, and its interval is narrower than the two separate ones.
 */

export function meanOf(xs: readonly number[]): number {
  return xs.length ? xs.reduce((s, v) => s + v, 0) / xs.length : Number.NaN;
}

/** Sample standard deviation (n - 1 in the denominator); 0 for a single value. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((s, v) => s + (v - m) * (v - m), 0) / (xs.length - 1));
}

// two-sided 95% quantiles of Student's t, t_{0.975, df}, df = 1..30
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** t_{0.975, df}: the table up to 30 degrees of freedom, then the normal's 1.96 blended in by 1/df. */
export function t975(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T975[Math.floor(df) - 1]!;
  return 1.96 + (2.042 - 1.96) * (30 / df);
}

/** The paired difference of two matched series, with its 95% interval. */
export interface PairedDifference {
  /** Mean of b_i - a_i. */
  mean: number;
  /** Sample std of the differences. */
  std: number;
  /** The 95% interval of the mean difference: mean -+ t sd / sqrt(n). */
  lo: number;
  hi: number;
  n: number;
}

/** The paired difference b - a of two matched series (same length, matched by index). */
export function pairedDifference(a: readonly number[], b: readonly number[]): PairedDifference {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} and ${b.length} values are not pairs`);
  const d = a.map((v, i) => b[i]! - v);
  const m = meanOf(d);
  const sd = sampleStd(d);
  const half = d.length > 1 ? (t975(d.length - 1) * sd) / Math.sqrt(d.length) : Number.NaN;
  return { mean: m, std: sd, lo: m - half, hi: m + half, n: d.length };
}
