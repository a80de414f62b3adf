/**
 * The ceiling of scalar floating point in this JavaScript engine, with no memory traffic:
 * `npm run build:bench && node build/bench/peak.js`.
 *
 * Two loops, and the difference between them is the lesson:
 * - "folded": twelve accumulators `c += a * b` whose operands are loop-invariant constants. TurboFan
 *   computes every product once, before the loop, so the loop is twelve additions. Counting it as 24
 *   FLOP per iteration gives 12-14 "GFLOP/s" here, which is NOT a multiply-add rate (an earlier
 *   version of this file, and of docs/results.md, quoted it as one).
 * - "multiply-add": eight accumulators whose operands change every iteration, so each product is
 *   really computed: 8 multiplies, 8 adds and 2 adds to move the operands, 18 FLOP per iteration.
 *   This is the rate a gemm micro-kernel can approach at best, before it loads a single operand.
 *
 * bench/native/scalar-gemm.c measures the same machine from C (scalar, no SIMD, no FMA) for comparison.
 */
function folded(n: number): number {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0, c8 = 0, c9 = 0, c10 = 0, c11 = 0;
  const a = 1.0000001;
  const b = 0.9999999;
  const d = 1.0000002;
  for (let i = 0; i < n; i++) {
    c0 += a * b; c1 += a * d; c2 += b * d; c3 += a * a; c4 += b * b; c5 += d * d;
    c6 += a * b; c7 += a * d; c8 += b * d; c9 += a * a; c10 += b * b; c11 += d * d;
  }
  return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
}

function multiplyAdd(n: number, a: number, b: number, d: number): number {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
  let x = a;
  let y = b;
  for (let i = 0; i < n; i++) {
    c0 += x * y; c1 += x * d; c2 += y * d; c3 += x * x; c4 += y * y; c5 += d * x; c6 += x * a; c7 += y * b;
    x += 1e-12;
    y -= 1e-12;
  }
  return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7;
}

const n = 1e8;
for (let r = 0; r < 3; r++) {
  let t = performance.now();
  let sink = folded(n);
  let dt = (performance.now() - t) / 1000;
  const f = (24 * n) / dt / 1e9;
  t = performance.now();
  sink += multiplyAdd(n, 1.0000001, 0.9999999, 1.0000002);
  dt = (performance.now() - t) / 1000;
  const m = (18 * n) / dt / 1e9;
  console.log(`folded (really 12 adds): ${f.toFixed(2)} "GFLOP/s"   multiply-add: ${m.toFixed(2)} GFLOP/s   (${sink > 0 ? "ok" : "?"})`);
}
