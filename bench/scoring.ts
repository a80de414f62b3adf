/**
 * Scoring records as an app does (`ScoringModel.score` and `rank`): `npm run build:bench && node
 * build/bench/scoring.js`. The model has the simulator's columns with hashed ids (untrained weights:
 * the speed does not depend on them). `rank` merges each candidate over the user before scoring, so
 * it is timed beside the same scoring with the candidates merged by a two-object spread, the way it
 * merged them before (V8 ran that spread far slower than the rest of the merge). `score` also runs on
 * two threads (setThreads(2): this one and a worker), beside one, on the same 4,096 records.
 */
import { Bench } from "tinybench";
import { Esmm, Preprocessor, ScoringModel, type FeatureRecord, type Mapping, type Schema } from "../src/index.js";
import "../src/node/index.js"; // worker threads, for score on two threads

const users = ["user_id", "age", "gender", "device", "region", "activity"];
const apps = ["app_id", "category", "developer", "price", "rating", "size"];
const context = ["position", "hour", "page"];
const schema: Schema = {
  click: "click", conversion: "conversion", categorical: [...users, ...apps, ...context], multi: [{ name: "recent_cats", pooling: "sum" }],
  dense: ["app_downloads", "user_tenure"], user: "user_id", truePctr: null, truePcvr: null,
};
const mappings: Mapping[] = [...schema.categorical, "recent_cats"].map(() => ({ kind: "hash", buckets: 4096 }));
const pre = new Preprocessor(schema, mappings, [0, 0], [1, 1]);
const model = new Esmm({ preset: "esmm-mmoe", fields: pre.fieldSpecs(), dense: schema.dense, denseMean: [0, 0], denseStd: [1, 1] });
const sm = new ScoringModel(model, pre);

// records of text and numbers, as an app would hold them (ids spread over 1,000 values a column)
const rng = (i: number, k: number): string => String((i * 7919 + k * 104_729) % 1000);
const N = 4096;
const records: Array<Record<string, string | number>> = Array.from({ length: N }, (_, i) => {
  const r: Record<string, string | number> = {};
  schema.categorical.forEach((c, k) => (r[c] = rng(i, k)));
  r.recent_cats = `${i % 24}:2|${(i * 5) % 24}`;
  r.app_downloads = (i % 100) / 10;
  r.user_tenure = i % 365;
  return r;
});
const user: Record<string, string | number> = { recent_cats: "3:2|7", user_tenure: 40, hour: "21", page: "0" };
for (const c of users) user[c] = records[0]![c]!;
const candidates = records.slice(0, 200).map((r) => Object.fromEntries([...apps, "position", "app_downloads"].map((c) => [c, r[c]!])) as FeatureRecord);

const bench = new Bench({ time: 1000, iterations: 5 });
bench.add(`score ${N} records`, () => void sm.scoreSync(records));
bench.add(`rank 200 candidates`, () => void sm.rank(user, candidates));
bench.add(`score 200 candidates merged by spread`, () => void sm.scoreSync(candidates.map((c) => ({ ...user, ...c }))));
const two = new ScoringModel(model, pre);
await two.setThreads(2);
bench.add(`score ${N} records on 2 threads`, async () => void (await two.score(records)));
await bench.run();
await two.close();
const p50 = (i: number): number => (bench.tasks[i]!.result as { latency: { p50: number } }).latency.p50;
console.log(`score ${N} records: ${p50(0).toFixed(2)} ms (${((N / p50(0)) * 1e3).toFixed(0)} records/s, median)`);
console.log(`score ${N} records on 2 threads: ${p50(3).toFixed(2)} ms (${(p50(0) / p50(3)).toFixed(2)}x one thread)`);
console.log(`rank 200 candidates: ${p50(1).toFixed(3)} ms; the same with the candidates merged by a two-object spread: ${p50(2).toFixed(3)} ms (${(p50(2) / p50(1)).toFixed(2)}x)`);
