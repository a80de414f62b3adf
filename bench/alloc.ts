/**
 * What a fresh buffer costs against refilling an old one: `node build/bench/alloc.js` allocates and
 * zero-fills a 15 MB Float32Array 50 times each way, three rounds.
 */
const n = (15 * 1024 * 1024) / 4;
const old = new Float32Array(n);
let sink = 0;
for (let r = 0; r < 3; r++) {
  let t = performance.now();
  for (let i = 0; i < 50; i++) {
    const fresh = new Float32Array(n);
    fresh[i] = 1;
    sink += fresh[i]!;
  }
  const fresh = (performance.now() - t) / 50;
  t = performance.now();
  for (let i = 0; i < 50; i++) {
    old.fill(0);
    old[i] = 1;
    sink += old[i]!;
  }
  const refill = (performance.now() - t) / 50;
  console.log(`fresh 15 MB: ${fresh.toFixed(2)} ms, refill: ${refill.toFixed(2)} ms (${(fresh / refill).toFixed(1)}x)${sink < 0 ? "" : ""}`);
}
