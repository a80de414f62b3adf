/** The timing rule of every figure `esmm bench` prints: medians of repeated calls, after one warm call. */

/** The middle value (the upper of the two middle ones for an even count). */
export function median(a: readonly number[]): number {
  const s = a.slice().sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

/** Calls fn once to warm up, then repeatedly for about `ms` (at least 3 times), and returns the median call in seconds. */
export function timeCalls(fn: () => void, ms: number): number {
  fn();
  const t: number[] = [];
  const end = performance.now() + ms;
  while (t.length < 3 || performance.now() < end) {
    const t0 = performance.now();
    fn();
    t.push((performance.now() - t0) / 1e3);
  }
  return median(t);
}
