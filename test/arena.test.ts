/**
 * Step arenas: a steady-state training step reuses the previous step's buffers, changes no result,
 * and never hands out a leaf's gradient.
 */
import { describe, expect, it } from "vitest";
import { Adam, AppStoreSimulator, Arena, DENSE_FEATURES, Esmm, allocF32, allocUnfilled, backendName, denseGrad, poisonUnfilled, useBackend, type LabeledBatch } from "../src/index.js";

describe("Arena", () => {
  it("hands the previous run's buffers out again, zeroed, in the same order", () => {
    const arena = new Arena();
    const first = arena.run(() => [allocF32(4), allocF32(3)]);
    first[0]!.fill(7);
    first[1]!.fill(8);
    const second = arena.run(() => [allocF32(4), allocF32(3), allocF32(2)]);
    // the same memory (a backend may lend views of one big buffer: compare where they start too)
    const same = (a: Float32Array, b: Float32Array): boolean => a.buffer === b.buffer && a.byteOffset === b.byteOffset;
    expect(same(second[0]!, first[0]!)).toBe(true);
    expect(same(second[1]!, first[1]!)).toBe(true);
    expect(Array.from(second[0]!)).toEqual([0, 0, 0, 0]);
    expect(Array.from(second[1]!)).toEqual([0, 0, 0]);
    expect(arena.fresh).toBe(1); // only the third is new
    // a smaller request at a position is a zeroed view of the old buffer; a larger one gets headroom
    const third = arena.run(() => [allocF32(2), allocF32(5)]);
    expect(third[0]!.length).toBe(2);
    expect(same(third[0]!, first[0]!)).toBe(true);
    expect(third[1]!.length).toBe(5);
    expect(arena.heldFloats).toBe(4 + 7 + 2); // position 1 now holds ceil(5 * 1.25) floats
    expect(arena.fresh).toBe(1);
  });

  it("serves only inside run, and a run does not nest in itself", () => {
    const arena = new Arena();
    const inside = arena.run(() => allocF32(3));
    expect(allocF32(3).buffer).not.toBe(inside.buffer);
    expect(() => arena.run(() => arena.run(() => 0))).toThrow(/already running/);
    // after a throw the arena is usable again
    expect(arena.run(() => allocF32(3)).buffer).toBe(inside.buffer);
  });
});

describe("a training step in an arena", () => {
  const sim = new AppStoreSimulator({ users: 300, apps: 100, seed: 8 });
  const ds = sim.dataset(256);
  const order = Int32Array.from({ length: ds.size }, (_, i) => i);
  const batches: LabeledBatch[] = [ds.take(order, 0, 128), ds.take(order, 128, 256)];
  const make = (): { model: Esmm; opt: Adam } => {
    const model = new Esmm({ preset: "esmm-mmoe", fields: sim.fieldSpecs(), dense: [...DENSE_FEATURES], dim: 4, experts: { count: 2, hidden: [16, 8] }, towers: { hidden: [4] }, seed: 5 });
    return { model, opt: new Adam(model.namedParameters(), { lr: 1e-2 }) };
  };
  const step = (model: Esmm, opt: Adam, b: LabeledBatch): void => {
    model.loss(model.forward(b), b.click, b.conversion).total.backward();
    opt.step();
    opt.zeroGrad();
  };

  it("gives bit-identical weights, and allocates no new buffer once steady", () => {
    const plain = make();
    const pooled = make();
    const arena = new Arena();
    const fresh: number[] = [];
    for (let s = 0; s < 8; s++) {
      step(plain.model, plain.opt, batches[s % 2]!);
      arena.run(() => step(pooled.model, pooled.opt, batches[s % 2]!));
      fresh.push(arena.fresh);
    }
    const want = new Map(plain.model.namedParameters().map(([n, p]) => [n, Array.from(p.data)]));
    for (const [n, p] of pooled.model.namedParameters()) expect(Array.from(p.data)).toEqual(want.get(n));
    expect(fresh[0]).toBeGreaterThan(50); // the first step allocates every buffer
    expect(fresh.slice(-4)).toEqual([0, 0, 0, 0]);
  });

  it("never hands out a parameter's gradient: it accumulates across runs", () => {
    const { model } = make();
    const arena = new Arena();
    const backward = (): void => void arena.run(() => model.loss(model.forward(batches[0]!), batches[0]!.click, batches[0]!.conversion).total.backward());
    backward();
    const w = model.towers.ctr.layers[0]!.weight;
    const once = denseGrad(w);
    backward();
    backward(); // a third run reuses the second run's buffers: the gradient must survive it
    const thrice = denseGrad(w);
    for (let i = 0; i < once.length; i++) expect(thrice[i]).toBeCloseTo(3 * once[i]!, 5);
    expect(once.some((v) => v !== 0)).toBe(true);
  });
});

describe.each(["naive", "ts", "wasm"] as const)("unfilled buffers on %s: every op writes what it takes unfilled", (backend) => {
  // With poisonUnfilled on, every buffer an op takes without zeros starts as NaN: an element it forgot
  // to write would reach the weights or the scores. Both first-layer ways, in and out of an arena.
  const sim = new AppStoreSimulator({ users: 300, apps: 100, seed: 8 });
  const ds = sim.dataset(256);
  const order = Int32Array.from({ length: ds.size }, (_, i) => i);
  const batches: LabeledBatch[] = [ds.take(order, 0, 128), ds.take(order, 128, 256)];
  const run = (firstLayer: "per-id" | "dense", poisoned: boolean): number[][] => {
    const before = backendName();
    useBackend(backend);
    poisonUnfilled(poisoned);
    try {
      const model = new Esmm({ preset: "esmm-mmoe", fields: sim.fieldSpecs(), dense: [...DENSE_FEATURES], dim: 4, experts: { count: 2, hidden: [16, 8] }, towers: { hidden: [4] }, seed: 5 });
      model.firstLayer = firstLayer;
      const opt = new Adam(model.namedParameters(), { lr: 1e-2 });
      const arena = new Arena();
      for (let s = 0; s < 4; s++) {
        const b = batches[s % 2]!;
        const step = (): void => {
          model.loss(model.forward(b), b.click, b.conversion).total.backward();
          opt.step();
          opt.zeroGrad();
        };
        if (s % 2 === 0) arena.run(step);
        else step();
      }
      const scores = model.predict(batches[0]!);
      return [...model.namedParameters().map(([, p]) => Array.from(p.data)), Array.from(scores.pCtr), Array.from(scores.pCvr)];
    } finally {
      poisonUnfilled(false);
      if (before !== "custom") useBackend(before);
    }
  };

  it.each(["per-id", "dense"] as const)("first layer %s: the same bits as with zeroed buffers", (firstLayer) => {
    const clean = run(firstLayer, false);
    const poisoned = run(firstLayer, true);
    expect(clean.flat().every(Number.isFinite)).toBe(true);
    expect(poisoned).toEqual(clean);
  });

  it("the poison shows: a buffer a kernel adds into cannot be taken unfilled", () => {
    poisonUnfilled(true);
    try {
      const arena = new Arena();
      const sum = arena.run(() => {
        const y = allocUnfilled(3);
        for (let i = 0; i < 3; i++) y[i]! += 1; // an accumulating write
        return Array.from(y);
      });
      expect(sum.every(Number.isNaN)).toBe(true);
    } finally {
      poisonUnfilled(false);
    }
  });
});
