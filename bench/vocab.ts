/**
 * Loading a checkpoint with large vocabularies: `npm run build:bench && node build/bench/vocab.js
 * [millions of tokens, default 4]` builds a preprocessing of that many integer-like tokens (a user
 * field with half of them, an item field with a quarter, two more with an eighth each: the shape of a
 * recommender log's ids) and writes its model.json both ways a checkpoint has held them:
 *
 *   array  format 3: each vocabulary an array of strings, in the indented file (Preprocessor.toJSON)
 *   lines  format 4 on: each vocabulary one string of its tokens, one per line (toCheckpointJSON)
 *
 * It times what loading does with the text (parse, verify the content checksum, rebuild the
 * preprocessing with its lookup tables: modelFromCheckpoint), both ways in turn, and prints each
 * file's size, the median of each and their ratio from the same run.
 */
import { Bench } from "tinybench";
import { Esmm, Preprocessor, Rng, encodeWeights, modelFromCheckpoint, modelJsonOf, type Mapping, type Schema } from "../src/index.js";

const millions = Number(process.argv[2] ?? 4);
const total = Math.round(millions * 1e6);
const shares = [0.5, 0.25, 0.125, 0.125];
const names = ["user_id", "item_id", "shop_id", "brand_id"];
// ids as a log holds them: integers, in the order they were first seen (a seeded shuffle)
const rng = new Rng(1);
const mappings: Mapping[] = shares.map((s) => {
  const n = Math.round(total * s);
  const ids = Array.from({ length: n }, (_, i) => i * 7 + 3);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return { kind: "vocab", tokens: ids.map(String) };
});
const schema: Schema = { click: "click", conversion: "conversion", categorical: names, multi: [], dense: [], user: "user_id", truePctr: null, truePcvr: null };
const pre = new Preprocessor(schema, mappings, [], []);
const model = new Esmm({ fields: pre.fieldSpecs(), dim: 1, experts: { hidden: [2] }, towers: { hidden: [2] }, seed: 1 });
const weights = encodeWeights(model);
const texts = { array: modelJsonOf(model, { preprocessor: pre.toJSON() }), lines: modelJsonOf(model, { preprocessor: pre.toCheckpointJSON() }) };

const bench = new Bench({ time: 3000, iterations: 5 });
for (const [way, text] of Object.entries(texts)) bench.add(way, () => void modelFromCheckpoint(text, weights));
await bench.run();
const p50 = (i: number): number => (bench.tasks[i]!.result as { latency: { p50: number } }).latency.p50;
const mb = (s: string): string => (Buffer.byteLength(s) / 1e6).toFixed(1);
console.log(`model.json of ${total.toLocaleString("en-US")} tokens in ${names.length} vocabularies:`);
console.log(`  array (format 3's form): ${mb(texts.array)} MB, loaded in ${p50(0).toFixed(0)} ms (median)`);
console.log(`  lines (since format 4): ${mb(texts.lines)} MB, loaded in ${p50(1).toFixed(0)} ms (median)`);
console.log(`  lines load ${(p50(0) / p50(1)).toFixed(2)}x as fast, in a file ${(Buffer.byteLength(texts.array) / Buffer.byteLength(texts.lines)).toFixed(2)}x smaller`);
