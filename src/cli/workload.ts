/**
 * The reference workload of the benchmarks: esmm-mmoe with F = 24 single-valued fields, D = 16,
 * experts 384 -> 256 -> 128, gates 384 -> 2, towers 128 -> 64 -> 1, batch 1024, Adam.
 * "bench" size: 10,000 rows per field; "large": 262,144 rows per field (6.3M rows, 100M floats).
 */
import { Adam, Arena, Esmm, Rng, type LabeledBatch } from "../index.js";

export const F = 24;
export const D = 16;
export const BATCH = 1024;

export function referenceModel(vocab: number, seed = 1): Esmm {
  return new Esmm({
    preset: "esmm-mmoe",
    fields: Array.from({ length: F }, (_, f) => ({ name: `f${f}`, vocab })),
    dim: D,
    experts: { count: 2, hidden: [256, 128] },
    towers: { hidden: [64] },
    seed,
  });
}

/** Random batches with Zipf-like ids (a few hot rows, a long tail) and about 5% clicks, 12% conversions. */
export function randomBatches(vocab: number, count: number, batch = BATCH, seed = 2): LabeledBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const ids = new Int32Array(batch * F);
    for (let i = 0; i < ids.length; i++) ids[i] = Math.min(vocab - 1, Math.floor(vocab ** rng.next()) - 1);
    const click = new Float32Array(batch);
    const conversion = new Float32Array(batch);
    for (let b = 0; b < batch; b++) {
      click[b] = rng.bernoulli(0.05) ? 1 : 0;
      conversion[b] = click[b] && rng.bernoulli(0.12) ? 1 : 0;
    }
    return { size: batch, ids, bags: [], dense: null, click, conversion };
  });
}

/** One training step, timed in three parts (seconds); inside `arena` when given, as train() runs it. */
export function timedStep(model: Esmm, opt: Adam, b: LabeledBatch, arena?: Arena): { forward: number; backward: number; optimizer: number } {
  if (arena) return arena.run(() => timedStep(model, opt, b));
  const t0 = performance.now();
  const out = model.forward(b);
  const loss = model.loss(out, b.click, b.conversion);
  const t1 = performance.now();
  loss.total.backward();
  const t2 = performance.now();
  opt.step();
  opt.zeroGrad();
  const t3 = performance.now();
  return { forward: (t1 - t0) / 1e3, backward: (t2 - t1) / 1e3, optimizer: (t3 - t2) / 1e3 };
}
