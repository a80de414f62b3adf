// Inference of the benchmark's reference workload through onnxruntime, beside esmm-ts on the same
// batches in the same process: esmm-mmoe, F = 24 fields of V = 10,000 ids, D = 16, experts
// 384 -> 256 -> 128, towers 128 -> 64 -> 1, batch 1024 (src/cli/workload.ts). The model is exported
// with `toOnnx` (ids as inputs), so both engines compute the same function from the same weights; the
// script checks that first (every pCTR and pCVR within 1e-5 relative), then times each engine in
// turn, round after round, and prints samples/s and the ratio within each round.
//
//   cd interop/onnx && npm ci --ignore-scripts && cd ../.. && npm run build && npm run build:bench
//   node interop/onnx/bench_reference.mjs [--threads 1,2] [--web-threads 1] [--batches 20] [--rounds 3] [--vocab 10000]
//
// Then what an app sees: 4,096 records (bench/records.ts: the simulator's columns, hashed ids, a bag
// and two dense values) scored by `ScoringModel.scoreSync`, against `onnxInputs` plus the session's run.
//
// onnxruntime-node runs its own kernels (MLAS, with the widest vectors the CPU has: AVX-512 where
// present); onnxruntime-web (also in interop/onnx) runs its WebAssembly build, 128-bit SIMD as ours;
// esmm-ts runs its default backend (WebAssembly SIMD, 128-bit) on this one thread (its own threads are
// not timed here: `npx esmm bench --threads 2` does that).
import { createRequire } from "node:module";
import { F, referenceModel, randomBatches } from "../../dist/cli/workload.js";
import { backendName, toOnnx } from "../../dist/index.js";

const ort = createRequire(import.meta.url)("onnxruntime-node");
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const threadCounts = arg("threads", "1,2").split(",").map(Number);
const count = Number(arg("batches", "20"));
const rounds = Number(arg("rounds", "3"));
const V = Number(arg("vocab", "10000"));

const model = referenceModel(V);
const names = model.config.fields.map((f) => f.name); // a model built in code: its inputs are its fields' ids
const bytes = toOnnx(model);
const batches = randomBatches(V, count);
const feedsOf = (Tensor) => batches.map((b) => Object.fromEntries(names.map((n, f) => [n, new Tensor("int64", BigInt64Array.from({ length: b.size }, (_, r) => BigInt(b.ids[r * F + f])), [b.size])])));
const feeds = feedsOf(ort.Tensor);

const sessions = [];
for (const t of threadCounts) sessions.push({ name: "onnxruntime", t, s: await ort.InferenceSession.create(bytes, { intraOpNumThreads: t, interOpNumThreads: 1, executionMode: "sequential" }) });
// onnxruntime-web's WebAssembly build, where installed: the same 128-bit SIMD as esmm-ts's kernels, so
// a comparison of kernels rather than of instruction sets (its thread count is set once a process)
const webThreads = Number(arg("web-threads", "1"));
const web = await import("onnxruntime-web").catch(() => null);
if (web) {
  web.env.wasm.numThreads = webThreads;
  const s = await web.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  sessions.push({ name: "onnxruntime-web wasm", t: webThreads, s, tensor: web.Tensor });
} else console.log("onnxruntime-web: skipped (not installed in interop/onnx)");
// the same function: every score within 1e-5 relative
for (const x of sessions) x.feeds = x.tensor ? feedsOf(x.tensor) : feeds;
for (const x of sessions) {
  const want = model.predict(batches[0]);
  const got = await x.s.run(x.feeds[0]);
  let worst = 0;
  for (const [k, o] of [["pCtr", "pctr"], ["pCvr", "pcvr"]]) for (let i = 0; i < want[k].length; i++) worst = Math.max(worst, Math.abs(got[o].data[i] - want[k][i]) / Math.max(Math.abs(want[k][i]), 1e-6));
  if (worst > 1e-5) throw new Error(`${x.name} and esmm-ts disagree: ${worst} relative`);
  console.log(`same scores: ${x.name} (${x.t} thread${x.t > 1 ? "s" : ""}) within ${worst.toExponential(1)} of esmm-ts (${backendName()} backend)`);
}
const samples = count * batches[0].size;
const timeEsmm = () => {
  const t0 = performance.now();
  for (const b of batches) model.predict(b);
  return samples / ((performance.now() - t0) / 1e3);
};
const timeOrt = async ({ s, feeds: fs }) => {
  const t0 = performance.now();
  for (const f of fs) await s.run(f);
  return samples / ((performance.now() - t0) / 1e3);
};
timeEsmm();
for (const x of sessions) await timeOrt(x); // warm-up
for (let r = 1; r <= rounds; r++) {
  const ours = timeEsmm();
  const line = [`round ${r}: esmm-ts (1 thread) ${ours.toFixed(0)} samples/s`];
  for (const x of sessions) {
    const theirs = await timeOrt(x);
    line.push(`${x.name} (${x.t} thread${x.t > 1 ? "s" : ""}) ${theirs.toFixed(0)} (${(theirs / ours).toFixed(2)}x)`);
  }
  console.log(line.join(", "));
}

// records to scores, as an app calls each engine
const { appRecord, hashedScoringModel } = await import("../../build/bench/records.js");
const sm = hashedScoringModel();
const records = Array.from({ length: 4096 }, (_, i) => appRecord(i));
const session = await ort.InferenceSession.create(toOnnx(sm.model, sm.preprocessor), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential" });
const viaOrt = async () => {
  const feeds = Object.fromEntries(Object.entries(sm.onnxInputs(records)).map(([k, v]) => [k, new ort.Tensor(v.type, v.data, v.dims)]));
  return (await session.run(feeds)).pctcvr.data;
};
const median = async (f) => {
  const t = [];
  for (let i = 0; i < 25; i++) {
    const t0 = performance.now();
    await f();
    if (i >= 5) t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[10];
};
const [a, b] = [sm.scoreSync(records), await viaOrt()];
if (a.some((s, i) => Math.abs(s.pCtcvr - b[i]) > 1e-5 * Math.max(s.pCtcvr, 1e-6))) throw new Error("onnxruntime and esmm-ts disagree on the records");
const ours = await median(() => sm.scoreSync(records));
const theirs = await median(viaOrt);
console.log(`4,096 records, one thread: esmm-ts scoreSync ${ours.toFixed(1)} ms, onnxInputs + onnxruntime ${theirs.toFixed(1)} ms (${(ours / theirs).toFixed(2)}x), medians of 20`);
process.exit(0); // onnxruntime-web's worker threads would keep the process alive
