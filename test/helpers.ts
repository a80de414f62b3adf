import { expect } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { Rng, Tensor } from "../src/index.js";

/** A leaf tensor with seeded normal entries, requiring grad. */
export function randn(shape: number[], seed: number, std = 1): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = rng.normal(0, std);
  return new Tensor(d, shape, { requiresGrad: true });
}

/** Elementwise |a - b| <= atol + rtol |b| with a message naming the first offending index. */
export function expectAllClose(a: ArrayLike<number>, b: ArrayLike<number>, atol = 1e-6, rtol = 1e-5): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) {
      throw new Error(`not close at ${i}: ${x} vs ${y} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** Seeded standard normal floats. */
export function randF32(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

export interface GemmCase {
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  b: Float32Array;
  init: Float32Array;
  bias: Float32Array;
  accumulate: boolean;
  /** 0: none, 1: bias, 2: bias and ReLU */
  epi: 0 | 1 | 2;
  opts: { transA: boolean; transB: boolean; accumulate: boolean; bias: Float32Array | null; relu: boolean };
}

/**
 * Every gemm case a kernel test runs in one form: each (m, n, k) of the given sizes with seeded
 * operands, and for each the five epilogues (plain, accumulating, bias, bias + ReLU, accumulating
 * bias + ReLU).
 */
export function* gemmCases(form: { transA: boolean; transB: boolean }, ms: number[], ns: number[], ks: number[], keep: (m: number, n: number, k: number) => boolean = () => true): Generator<GemmCase> {
  let seed = 1;
  for (const m of ms) for (const n of ns) for (const k of ks) {
    if (!keep(m, n, k)) continue;
    const a = randF32(m * k, seed++);
    const b = randF32(k * n, seed++);
    const init = randF32(m * n, seed++);
    const bias = randF32(n, seed++);
    for (const [accumulate, epi] of [[false, 0], [true, 0], [false, 1], [false, 2], [true, 2]] as const) {
      yield { m, n, k, a, b, init, bias, accumulate, epi, opts: { transA: form.transA, transB: form.transB, accumulate, bias: epi > 0 ? bias : null, relu: epi === 2 } };
    }
  }
}

/** Runs the `esmm` command in-process, capturing what it prints; `outChunks` are its separate writes to standard output. */
export async function runCli(...argv: string[]): Promise<{ code: number; out: string; err: string; outChunks: string[] }> {
  const { main } = await import("../src/cli/main.js");
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false });
  return { code, out: out.join("\n"), err: err.join("\n"), outChunks: out };
}

/** A copy of the CSV file `from` at `to` with one cell changed: line `line` (0 is the header), column `column`, to `value`. */
export function csvWithCell(from: string, to: string, line: number, column: string, value: string): string {
  const lines = readFileSync(from, "utf8").split("\n");
  const col = lines[0]!.split(",").indexOf(column);
  const cells = lines[line]!.split(",");
  cells[col] = value;
  lines[line] = cells.join(",");
  writeFileSync(to, lines.join("\n"));
  return to;
}
