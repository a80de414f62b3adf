import { describe, expect, it } from "vitest";
import { Rng, kaimingUniform, linearDefault, randNormal, xavierUniform } from "../src/index.js";

describe("Rng", () => {
  it("gives the same stream for the same seed, pinned so a change in any engine shows", () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(xs);
    // Pinned values: xoshiro128** seeded by splitmix32 from 42. Pure 32-bit integer arithmetic makes
    // them identical in every JavaScript engine.
    expect(xs).toEqual([3704290710, 166753127, 957952423, 1464233848, 469586928]);
    expect(new Rng(43).nextU32()).not.toBe(xs[0]);
  });

  it("uniform draws are in [0, 1) with mean 1/2 and variance 1/12", () => {
    const r = new Rng(1);
    let s = 0;
    let s2 = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      expect(u >= 0 && u < 1).toBe(true);
      s += u;
      s2 += u * u;
    }
    expect(s / n).toBeCloseTo(0.5, 2);
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 2);
  });

  it("normal draws have mean 0 and std 1", () => {
    const t = randNormal([200_000], new Rng(2));
    let s = 0;
    let s2 = 0;
    for (const v of t.data) {
      s += v;
      s2 += v * v;
    }
    expect(s / t.size).toBeCloseTo(0, 2);
    expect(Math.sqrt(s2 / t.size)).toBeCloseTo(1, 2);
  });

  it("int(n) is unbiased over a non-power-of-two range and rejects bad n", () => {
    const r = new Rng(3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[r.int(3)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
    expect(() => r.int(0)).toThrow(/integer in \[1, 2\^32\]/);
    expect(() => r.int(2.5)).toThrow();
  });

  it("rejects a non-finite seed", () => {
    expect(() => new Rng(Number.NaN)).toThrow(/seed/);
  });
});

describe("initialisers", () => {
  it("PyTorch's nn.Linear default is U(-1/sqrt(I), 1/sqrt(I))", () => {
    const w = new Float32Array(10_000);
    const b = new Float32Array(100);
    linearDefault(w, b, new Rng(4), 64);
    const bound = 1 / 8;
    let mx = 0;
    for (const v of w) mx = Math.max(mx, Math.abs(v));
    expect(mx).toBeLessThanOrEqual(bound);
    expect(mx).toBeGreaterThan(bound * 0.99);
    for (const v of b) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
  });

  it("Xavier uniform bound sqrt(6 / (fanIn + fanOut)); Kaiming uniform sqrt(6 / fanIn)", () => {
    const x = xavierUniform(new Float32Array(10_000), new Rng(5), 10, 20);
    const k = kaimingUniform(new Float32Array(10_000), new Rng(6), 24);
    const max = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(max(x)).toBeLessThanOrEqual(Math.sqrt(6 / 30));
    expect(max(x)).toBeGreaterThan(Math.sqrt(6 / 30) * 0.99);
    expect(max(k)).toBeLessThanOrEqual(Math.sqrt(6 / 24) + 1e-7);
    expect(max(k)).toBeGreaterThan(Math.sqrt(6 / 24) * 0.99);
  });
});
