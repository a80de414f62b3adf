/**
 * Register-tile shapes for the gemm micro-kernel, compared on packed Float64 panels:
 * `npm run build:bench && node build/bench/microkernels.js` prints the best of five runs of each
 * R x C tile (R rows of A, C columns of B, one b loaded at a time), with the k loop unrolled U times,
 * at 1020 x 252 x 384.
 * This is how the 4x4 tile of src/tensor/kernels/fast.ts was chosen, and where the ~5 GFLOP/s
 * ceiling quoted in docs/results.md comes from.
 */
type Kernel = (A: Float64Array, B: Float64Array, C: Float64Array, mp: number, np: number, k: number) => void;

/** Generates the R x C micro-kernel's source (written out by hand it is the same loop, unrolled). */
function generate(R: number, C: number, U: number): Kernel {
  const acc: string[] = [];
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) acc.push(`c${r}_${c}`);
  let body = `let ${acc.map((a) => `${a} = 0`).join(", ")};\n`;
  body += `let pa = ip * k * ${R}, pb = jp * k * ${C}; const end = pa + k * ${R};\n`;
  body += `for (; pa < end; pa += ${R * U}, pb += ${C * U}) {\n`;
  for (let u = 0; u < U; u++) {
    body += `{ const ${Array.from({ length: R }, (_, r) => `a${r} = A[pa + ${u * R + r}]`).join(", ")};\n`;
    for (let c = 0; c < C; c++) body += `{ const b = B[pb + ${u * C + c}]; ${Array.from({ length: R }, (_, r) => `c${r}_${c} += a${r} * b;`).join(" ")} }\n`;
    body += `}\n`;
  }
  body += `}\nconst o = (ip * np + jp) * ${R * C};\n${acc.map((a, i) => `C[o + ${i}] = ${a};`).join(" ")}`;
  return new Function(`return function (A, B, C, mp, np, k) { for (let ip = 0; ip < mp; ip++) for (let jp = 0; jp < np; jp++) { ${body} } }`)() as Kernel;
}

const m = 1020;
const n = 252;
const k = 384;
const A = new Float64Array(m * k).map(() => Math.random());
const B = new Float64Array(n * k).map(() => Math.random());
const Cm = new Float64Array(m * n);
const shapes: Array<[number, number]> = [[2, 4], [3, 3], [3, 4], [4, 3], [4, 4], [2, 6], [6, 2], [1, 12], [3, 2]];
const best = new Map<string, number>();
for (let rep = 0; rep < 5; rep++) {
  for (const [R, C] of shapes) for (const U of [1, 2, 4]) {
    const f = generate(R, C, U);
    const mp = Math.floor(m / R);
    const np = Math.floor(n / C);
    f(A, B, Cm, mp, np, k);
    const t = performance.now();
    for (let q = 0; q < 5; q++) f(A, B, Cm, mp, np, k);
    const dt = (performance.now() - t) / 5 / 1000;
    const g = (2 * mp * R * np * C * k) / dt / 1e9;
    best.set(`${R}x${C} k-unroll ${U}`, Math.max(best.get(`${R}x${C} k-unroll ${U}`) ?? 0, g));
  }
}
console.log([...best].map(([s, g]) => `${s}: ${g.toFixed(2)} GFLOP/s`).join("\n"));
