/**
 * The ceiling of scalar floating point in this JavaScript engine: twelve independent multiply-add
 * chains on locals, no memory traffic. `npm run build:bench && node build/bench/peak.js`.
 * Compare with the gemm figures of `npm run bench`: the gap is the cost of loading operands.
 */
function chains(n: number): number {
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

const n = 1e8;
for (let r = 0; r < 3; r++) {
  const t = performance.now();
  const sink = chains(n);
  const dt = (performance.now() - t) / 1000;
  console.log(`12 multiply-add chains: ${((24 * n) / dt / 1e9).toFixed(2)} GFLOP/s (${sink > 0 ? "ok" : "?"})`);
}
