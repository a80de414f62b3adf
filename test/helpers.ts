import { expect } from "vitest";
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
