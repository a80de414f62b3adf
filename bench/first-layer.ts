/**
 * Where per-id first layers stop paying off on the current backend: the reference model at several
 * table sizes (fewer rows per field = more repeated ids in a batch), training steps interleaved in one
 * process, medians, three ways: by the backend's rule (a field goes per id when at most
 * `perIdMaxDistinct` of a batch's ids are distinct), every field per id, and every field over the
 * materialised input (dense). The last two are what the rule chooses between, so where "every field
 * per id" beats "dense" the rule's threshold could be higher on this machine.
 * `npm run build:bench && node build/bench/first-layer.js [ts|wasm]`.
 */
import { Adam, Arena, kernels, useBackend, useKernels, type BackendName, type FirstLayer } from "../src/index.js";
import { F, randomBatches, referenceModel, timedStep } from "./workload.js";

const backend = (process.argv[2] ?? "wasm") as BackendName;
useBackend(backend);
const rule = kernels;
const everyField = { ...rule, perIdMaxDistinct: 1 };
const ways = { rule: ["per-id", rule], "every field per id": ["per-id", everyField], dense: ["dense", rule] } as const;
type Way = keyof typeof ways;
const median = (a: number[]): number => a.slice().sort((x, y) => x - y)[a.length >> 1]!;
console.log(`backend ${backend} (per id where at most ${rule.perIdMaxDistinct ?? "0.6 (the default)"} of a batch is distinct): training step, median of 10 interleaved rounds`);
for (const V of [1000, 2500, 5000, 10_000, 50_000]) {
  const model = referenceModel(V);
  const batches = randomBatches(V, 8);
  let distinct = 0;
  for (let f = 0; f < F; f++) distinct += new Set(Array.from({ length: batches[0]!.size }, (_, r) => batches[0]!.ids[r * F + f])).size / batches[0]!.size;
  const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
  const names = Object.keys(ways) as Way[];
  const arenas = Object.fromEntries(names.map((w) => [w, new Arena()])) as Record<Way, Arena>;
  const ms = Object.fromEntries(names.map((w) => [w, [] as number[]])) as Record<Way, number[]>;
  for (let r = 0; r < 14; r++) {
    for (const w of names) {
      const [layer, set] = ways[w];
      model.firstLayer = layer as FirstLayer;
      useKernels(set);
      const t0 = performance.now();
      timedStep(model, opt, batches[r % batches.length]!, arenas[w]);
      if (r >= 4) ms[w].push(performance.now() - t0);
    }
  }
  useKernels(rule);
  const m = (w: Way): number => median(ms[w]);
  console.log(`  ${String(V).padStart(6)} rows per field, ${(distinct / F).toFixed(2)} of a batch distinct: rule ${m("rule").toFixed(1)} ms, every field per id ${m("every field per id").toFixed(1)} ms, dense ${m("dense").toFixed(1)} ms; dense / every field per id ${(m("dense") / m("every field per id")).toFixed(2)}`);
}
