/**
 * Finding NaN and infinities. `v - v` is 0 for every finite float and NaN for NaN and +-Infinity,
 * so one subtraction and one comparison test both (Number.isFinite does the same, slower in a loop).
 */

/** Index of the first non-finite value and how many there are, or null when every value is finite. */
export function firstNonFinite(a: ArrayLike<number>): { index: number; count: number } | null {
  let index = -1;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v - v !== 0) {
      if (index < 0) index = i;
      count++;
    }
  }
  return count ? { index, count } : null;
}

/** Throws `what: N of M <name> are NaN or infinite (first at index i)` unless every value is finite. */
export function assertFinite(what: string, name: string, a: ArrayLike<number>): void {
  const bad = firstNonFinite(a);
  if (bad) throw new Error(`${what}: ${bad.count} of ${a.length} ${name} are NaN or infinite (first at index ${bad.index})`);
}
