#!/usr/bin/env node
// A training file of a real log's size, in torch-rechub's preprocessed Ali-CCP layout (`--format
// aliccp-csv`: click, purchase, 23 sparse columns, 8 dense), for timing what `esmm train`, `predict`
// and `inspect` do with vocabularies of a million ids (docs/results.md, "a training file of a real
// log's size"). Not a model of Ali-CCP's behaviour: ids are floor(V * u^3) for uniform u (a few hot
// ids, a long tail), with V per column near the real data's distinct counts; the labels depend on
// the item, the user, the position and the category through fixed functions, so that the AUCs are
// above 0.5 and a run can be checked against another; the dense values are uniform in [0, 1].
// Usage: node scripts/aliccp-shaped.mjs ROWS OUT.csv [SEED]   (after npm run build)
import { createWriteStream } from "node:fs";
import { Rng } from "../dist/index.js";

const [rowsArg, out, seedArg] = process.argv.slice(2);
if (!rowsArg || !out) {
  console.error("usage: node scripts/aliccp-shaped.mjs ROWS OUT.csv [SEED]");
  process.exit(2);
}
const rows = Number(rowsArg);
const rng = new Rng(Number(seedArg ?? 1));
const V = {
  101: 200_000, 121: 100, 122: 14, 124: 3, 125: 8, 126: 4, 127: 4, 128: 3, 129: 5, 205: 400_000, 206: 7_000, 207: 200_000, 210: 100_000, 216: 80_000,
  508: 1_000_000, 509: 1_000_000, 702: 1_000_000, 853: 1_000_000, 301: 5, "109_14": 10_000, "110_14": 200_000, "127_14": 80_000, "150_14": 100_000,
};
// the columns in the layout's order (an object lists integer-like keys first, so it cannot give it)
const cols = ["101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207", "210", "216", "508", "509", "702", "853", "301", "109_14", "110_14", "127_14", "150_14"];
const dense = ["D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853"];
const sigmoid = (x) => 1 / (1 + Math.exp(-x));
const file = createWriteStream(out);
file.write(["click", "purchase", ...cols, ...dense].join(",") + "\n");
let buf = [];
let clicks = 0;
let buys = 0;
for (let r = 0; r < rows; r++) {
  const id = {};
  for (const c of cols) id[c] = Math.floor(V[c] * rng.uniform() ** 3);
  const user = Math.cos(id["101"] * 78.233) * 0.8;
  const click = rng.uniform() < sigmoid(-3.2 + Math.sin(id["205"] * 12.9898) + user - 0.3 * id["301"]) ? 1 : 0;
  const buy = click && rng.uniform() < sigmoid(-2 + 1.5 * Math.sin(id["206"] * 3.1) + 0.5 * user) ? 1 : 0;
  clicks += click;
  buys += buy;
  buf.push(`${click},${buy},${cols.map((c) => id[c]).join(",")},${dense.map(() => rng.uniform().toFixed(4)).join(",")}`);
  if (buf.length === 10_000) {
    if (!file.write(buf.join("\n") + "\n")) await new Promise((ok) => file.once("drain", ok));
    buf = [];
  }
}
file.end(buf.length ? buf.join("\n") + "\n" : "");
await new Promise((ok) => file.once("finish", ok));
console.error(`wrote ${rows} rows to ${out}: CTR ${(clicks / rows).toFixed(4)}, purchases per click ${(buys / Math.max(clicks, 1)).toFixed(4)}`);
