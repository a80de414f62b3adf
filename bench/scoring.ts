/**
 * Scoring records as an app does (`ScoringModel.score` and `rank`): `npm run build:bench && node
 * build/bench/scoring.js`. The model has the simulator's columns with hashed ids (untrained weights:
 * the speed does not depend on them). `rank` merges each candidate over the user before scoring, so
 * it is timed beside the same scoring with the candidates merged by a two-object spread, the way it
 * merged them before (V8 ran that spread far slower than the rest of the merge). `score` also runs on
 * two threads (setThreads(2): this one and a worker), beside one, on the same 4,096 records.
 */
import { Bench } from "tinybench";
import { ScoringModel, type FeatureRecord } from "../src/index.js";
import "../src/node/index.js"; // worker threads, for score on two threads
import { APP_COLUMNS, USER_COLUMNS, appRecord, hashedScoringModel } from "./records.js";

const sm = hashedScoringModel();
const N = 4096;
const records = Array.from({ length: N }, (_, i) => appRecord(i));
const user: Record<string, string | number> = { recent_cats: "3:2|7", user_tenure: 40, hour: "21", page: "0" };
for (const c of USER_COLUMNS) user[c] = records[0]![c]!;
const candidates = records.slice(0, 200).map((r) => Object.fromEntries([...APP_COLUMNS, "position", "app_downloads"].map((c) => [c, r[c]!])) as FeatureRecord);

const bench = new Bench({ time: 1000, iterations: 5 });
bench.add(`score ${N} records`, () => void sm.scoreSync(records));
bench.add(`rank 200 candidates`, () => void sm.rank(user, candidates));
bench.add(`score 200 candidates merged by spread`, () => void sm.scoreSync(candidates.map((c) => ({ ...user, ...c }))));
const two = new ScoringModel(sm.model, sm.preprocessor);
await two.setThreads(2);
bench.add(`score ${N} records on 2 threads`, async () => void (await two.score(records)));
await bench.run();
await two.close();
const p50 = (i: number): number => (bench.tasks[i]!.result as { latency: { p50: number } }).latency.p50;
console.log(`score ${N} records: ${p50(0).toFixed(2)} ms (${((N / p50(0)) * 1e3).toFixed(0)} records/s, median)`);
console.log(`score ${N} records on 2 threads: ${p50(3).toFixed(2)} ms (${(p50(0) / p50(3)).toFixed(2)}x one thread)`);
console.log(`rank 200 candidates: ${p50(1).toFixed(3)} ms; the same with the candidates merged by a two-object spread: ${p50(2).toFixed(3)} ms (${(p50(2) / p50(1)).toFixed(2)}x)`);
