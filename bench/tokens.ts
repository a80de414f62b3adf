/**
 * Looking tokens up in a vocabulary of a million ids, as reading a training file (one lookup a token)
 * and scoring a file do: `npm run build:bench && node build/bench/tokens.js [distinct]`. The tokens
 * are integer ids drawn as a recommender log names users and items (a few hot, a long tail), read as
 * fresh strings the way a CSV line's cells are. TokenIndex (src/data/tokens.ts) is timed beside the
 * Map<string, number> that held vocabularies before it, on the same tokens, in one run.
 */
import { Bench } from "tinybench";
import { TokenIndex } from "../src/data/tokens.js";
import { Rng } from "../src/index.js";

const distinct = Number(process.argv[2] ?? 1_000_000);
const N = 1_000_000;
const rng = new Rng(3);
// fresh strings, as split() makes them from a line (not the interned ones the index was built from)
const line = Array.from({ length: N }, () => String(Math.floor(distinct * rng.next() ** 3))).join(",");
const tokens = line.split(",");
const index = new TokenIndex();
const map = new Map<string, number>();
for (let v = 0; v < distinct; v++) {
  index.add(String(v));
  map.set(String(v), v);
}

let sink = 0;
const bench = new Bench({ time: 2000, iterations: 5 });
bench.add(`TokenIndex.get, ${N.toLocaleString("en-US")} tokens`, () => {
  for (const t of tokens) sink += index.get(t);
});
bench.add(`Map.get, ${N.toLocaleString("en-US")} tokens`, () => {
  for (const t of tokens) sink += map.get(t) ?? -1;
});
await bench.run();
const p50 = (i: number): number => (bench.tasks[i]!.result as { latency: { p50: number } }).latency.p50;
for (const [i, t] of bench.tasks.entries()) console.log(`${t.name}: ${((p50(i) * 1e6) / N).toFixed(0)} ns a token (median of ${t.runs} runs)`);
console.log(`vocabulary of ${distinct.toLocaleString("en-US")} ids: Map / TokenIndex ${(p50(1) / p50(0)).toFixed(2)}x`);
if (!Number.isFinite(sink)) throw new Error("unreachable: the sums keep the lookups from being optimised away");
