/**
 * Where per-id first layers stop paying off on the current backend: the reference model at several
 * table sizes (fewer rows per field = more repeated ids in a batch), training steps per id and over
 * the materialised input interleaved in one process, medians. `npm run build:bench && node
 * build/bench/first-layer.js [ts|wasm]`.
 */
import { Adam, Arena, useBackend, type BackendName } from "../src/index.js";
import { F, randomBatches, referenceModel, timedStep } from "./workload.js";

const backend = (process.argv[2] ?? "wasm") as BackendName;
useBackend(backend);
const median = (a: number[]): number => a.slice().sort((x, y) => x - y)[a.length >> 1]!;
console.log(`backend ${backend}: training step, first layers per id vs dense (median of 10 interleaved rounds)`);
for (const V of [1000, 2500, 5000, 10_000]) {
  const model = referenceModel(V);
  const batches = randomBatches(V, 8);
  let distinct = 0;
  for (let f = 0; f < F; f++) distinct += new Set(Array.from({ length: batches[0]!.size }, (_, r) => batches[0]!.ids[r * F + f])).size / batches[0]!.size;
  const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
  const arenas = { "per-id": new Arena(), dense: new Arena() };
  const ms: Record<"per-id" | "dense", number[]> = { "per-id": [], dense: [] };
  for (let r = 0; r < 14; r++) {
    for (const fl of ["per-id", "dense"] as const) {
      model.firstLayer = fl;
      const t0 = performance.now();
      timedStep(model, opt, batches[r % batches.length]!, arenas[fl]);
      if (r >= 4) ms[fl].push(performance.now() - t0);
    }
  }
  console.log(`  ${String(V).padStart(6)} rows per field, ${(distinct / F).toFixed(2)} of a batch distinct: per id ${median(ms["per-id"]).toFixed(1)} ms, dense ${median(ms.dense).toFixed(1)} ms, dense / per id ${(median(ms.dense) / median(ms["per-id"])).toFixed(2)}`);
}
