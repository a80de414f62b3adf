// The benchmark's reference workload in TensorFlow.js, for a side-by-side figure with `npx esmm bench`
// (and interop/pytorch/bench_reference.py): esmm-mmoe, F = 24 fields of V = 10,000 ids, D = 16,
// two experts 384 -> 256 -> 128 (ReLU after each layer), a softmax gate 384 -> 2 per task, towers
// 128 -> 64 -> 1, owned experts (each task reads the other's expert without sending it gradient),
// batch 1024, Adam lr 1e-3; the loss BCE(pCTR, click) + BCE(pCTCVR, click AND conversion) from the
// logits in log space. The batches are esmm-ts's own (`randomBatches`, from the built dist/), so the
// three engines see the same ids and labels.
//
//   cd interop/tfjs && npm ci && cd ../.. && npm run build
//   node interop/tfjs/bench_reference.mjs [--backend cpu,wasm] [--steps 30] [--vocab 10000] [--threads 1]
//       [--matmul-grad transposed|tfjs] [--check]
//
// `--check` compares the two gradients this script writes itself with TF.js's own: the lookup's on a
// small table (cpu backend), then every weight's gradient on one batch, each backend and way, against
// TF.js's own on the cpu backend (a small --vocab keeps the cpu backend quick). Measured 2026-12-07
// with `--check --vocab 1000`: the transposed gradient equals TF.js's own exactly on cpu, and on wasm
// every weight, the gates' included, agrees with cpu within 1.3e-6 of its largest gradient. (Until then
// every weight was drawn with one seed, so the two experts were equal, the gates' gradient was zero but
// for rounding, and its noise differed between the backends by up to 5x of its largest value.)
//
// What TensorFlow.js can and cannot do here, said plainly: its Adam updates every row of every
// embedding table each step (it has no row-sparse optimizer), the gradient of a gather is a dense
// table-sized sum, and the 24 tables are one [24 V, 16] table indexed with per-field offsets (one
// gather instead of 24, the faster way to write it). `--threads` sets the wasm backend's thread
// count where its threaded build loads; this script reports what the backend says it uses.
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { randomBatches } from "../../dist/cli/workload.js";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const backends = arg("backend", "cpu,wasm").split(",");
const steps = Number(arg("steps", "30"));
const V = Number(arg("vocab", "10000"));
const threads = Number(arg("threads", "1"));
const F = 24, D = 16, B = 1024;

/**
 * Weights drawn as esmm-ts draws them in kind (the values do not matter for speed): N(0, 1) embeddings,
 * Kaiming-scaled normal linears. Each weight takes a seed of its own: drawn with one seed, the two
 * experts were the same numbers, so each gate's two inputs were equal and its gradient was zero but for
 * rounding, which --check then compared between backends as if it were a value.
 */
function buildModel() {
  let seed = 1;
  const v = (shape, std) => tf.variable(tf.randomNormal(shape, 0, std, "float32", seed++));
  const linear = (i, o) => ({ w: v([i, o], Math.sqrt(2 / i)), b: tf.variable(tf.zeros([o])) });
  const mlp = (sizes) => sizes.slice(1).map((o, k) => linear(sizes[k], o));
  return {
    table: v([F * V, D], 1),
    experts: [mlp([F * D, 256, 128]), mlp([F * D, 256, 128])],
    gates: [linear(F * D, 2), linear(F * D, 2)],
    towers: [mlp([128, 64, 1]), mlp([128, 64, 1])],
  };
}

/**
 * x @ w whose gradient multiplies by explicitly transposed operands. TF.js's own matMul gradient calls
 * matMul with its transpose flags set, and on the wasm backend those forms leave XNNPACK for a loop
 * about 14x slower (2.4 against 34 GFLOP/s at 1024x384x256 here); a transpose and a plain matMul cost
 * 29-32. `--matmul-grad tfjs` keeps TF.js's own gradient, to show what a straightforward model gets.
 */
const matMulT = tf.customGrad((x, w, save) => {
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy, [xs, ws]) => [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy)],
  };
});
/** The two ways of writing the model's products (`--matmul-grad`): the same values, different gradients' cost. */
const PRODUCTS = { transposed: matMulT, tfjs: (x, w) => tf.matMul(x, w) };
const matMulGrad = arg("matmul-grad", "transposed");
if (!(matMulGrad in PRODUCTS)) throw new Error(`--matmul-grad: ${Object.keys(PRODUCTS).join(" or ")}, not ${matMulGrad}`);

const dense = (x, l, relu, product) => {
  const y = tf.add(product(x, l.w), l.b);
  return relu ? tf.relu(y) : y;
};
const run = (x, layers, reluLast, product) =>
  layers.reduce((h, l, k) => dense(h, l, reluLast || k < layers.length - 1, product), x);
/** The identity whose gradient is zero: the reading task's view of an expert it does not own. */
const detached = tf.customGrad((x, save) => {
  save([x]);
  return { value: tf.clone(x), gradFunc: (dy) => tf.zerosLike(dy) };
});

/**
 * The rows of `table` at `ids`, whose gradient is the scatter-add of the rows' gradients into a
 * table-sized zero tensor. (tf.gather's own gradient needs UnsortedSegmentSum, which the wasm backend
 * of TF.js 4.22 does not have; ScatterNd sums repeated ids on both backends, which is the same sum.)
 */
function gatherRows(table, b) {
  return tf.customGrad((t) => ({
    value: tf.gather(t, b.ids),
    gradFunc: (dy) => tf.scatterND(b.at, dy, t.shape),
  }))(table);
}

/** The two logits of a batch (ids offset by field into the one table). */
function forward(m, b, product) {
  const x = tf.reshape(gatherRows(m.table, b), [B, F * D]);
  const e = m.experts.map((layers) => run(x, layers, true, product));
  return [0, 1].map((task) => {
    const g = tf.softmax(dense(x, m.gates[task], false, product));
    const own = e[task], other = detached(e[1 - task]);
    const gOwn = tf.slice(g, [0, task], [B, 1]), gOther = tf.slice(g, [0, 1 - task], [B, 1]);
    const mixed = tf.add(tf.mul(gOwn, own), tf.mul(gOther, other));
    return tf.reshape(run(mixed, m.towers[task], false, product), [B]);
  });
}

/** BCE(pCTR, click) + BCE(pCTR pCVR, click AND conversion), from the logits in log space. */
function loss(zc, zv, click, ctcvr) {
  const ctr = tf.mean(tf.sub(tf.softplus(zc), tf.mul(click, zc)));
  // log sigmoid(z) = -softplus(-z); tf.logSigmoid's own gradient reads a tensor its scope has already
  // freed on the wasm backend (TF.js 4.22), so it is written out here.
  const logSigmoid = (z) => tf.neg(tf.softplus(tf.neg(z)));
  const logP = tf.add(logSigmoid(zc), logSigmoid(zv));
  const log1mP = tf.log1p(tf.neg(tf.exp(tf.minimum(logP, -1e-7))));
  const cvr = tf.neg(tf.mean(tf.add(tf.mul(ctcvr, logP), tf.mul(tf.sub(1, ctcvr), log1mP))));
  return tf.add(ctr, cvr);
}

const raw = randomBatches(V, 8).map((b) => {
  const ids = new Int32Array(B * F);
  for (let i = 0; i < ids.length; i++) ids[i] = b.ids[i] + (i % F) * V;
  return { ids, click: b.click, ctcvr: b.conversion };
});

const toTensors = (b) => ({
  ids: tf.tensor1d(b.ids, "int32"),
  at: tf.tensor2d(b.ids, [b.ids.length, 1], "int32"),
  click: tf.tensor1d(b.click),
  ctcvr: tf.tensor1d(b.ctcvr),
});

/** Every weight of the model with a name to print it by, in one fixed order. */
function namedWeights(m) {
  const named = (prefix, layers) => layers.flatMap((l, k) => [[`${prefix}.${k + 1}.w`, l.w], [`${prefix}.${k + 1}.b`, l.b]]);
  return [
    ["table", m.table],
    ...m.experts.flatMap((layers, e) => named(`expert${e}`, layers)),
    ...m.gates.flatMap((l, t) => named(`gate${t}`, [l])),
    ...m.towers.flatMap((layers, t) => named(`tower${t}`, layers)),
  ];
}

/** The loss and every weight's name and gradient on the first batch, as plain arrays, with the products written as `product`. */
function gradients(product) {
  const m = buildModel();
  const b = toTensors(raw[0]);
  const { value, grads } = tf.variableGrads(() => {
    const [zc, zv] = forward(m, b, product);
    return loss(zc, zv, b.click, b.ctcvr);
  });
  const out = { loss: value.dataSync()[0], grads: namedWeights(m).map(([name, v]) => [name, grads[v.name].dataSync()]) };
  tf.disposeVariables();
  return out;
}

if (process.argv.includes("--check")) {
  // The lookup: its scatter-add gradient against tf.gather's own (cpu backend), on a small table with repeated ids.
  await tf.setBackend("cpu");
  const table = tf.variable(tf.randomNormal([50, 4], 0, 1, "float32", 2));
  const small = toTensors({ ids: [3, 7, 3, 49, 0, 3], click: [], ctcvr: [] });
  const weight = tf.randomNormal([6, 4], 0, 1, "float32", 3);
  const lookupGrad = (gather) => tf.grad((t) => tf.sum(tf.mul(gather(t, small), weight)))(table).dataSync();
  const own = lookupGrad((t, b) => tf.gather(t, b.ids)), ours = lookupGrad(gatherRows);
  console.log(`lookup gradient: worst difference ${Math.max(...own.map((v, i) => Math.abs(v - ours[i])))} against tf.gather's own`);
  tf.disposeVariables();
  // The model: every weight's gradient on one batch, each backend and way against TF.js's own on cpu.
  const ref = gradients(PRODUCTS.tfjs);
  for (const backend of backends) {
    await tf.setBackend(backend);
    for (const way of Object.keys(PRODUCTS)) {
      const got = gradients(PRODUCTS[way]);
      const list = got.grads.map(([name, g], k) => {
        const r = ref.grads[k][1];
        const scale = r.reduce((a, v) => Math.max(a, Math.abs(v)), 0) || 1;
        const worst = g.reduce((a, v, i) => Math.max(a, Math.abs(v - r[i]) / scale), 0);
        return `${name} ${worst.toExponential(1)}`;
      }).join(", ");
      console.log(`${backend}, matMul gradient ${way}: loss ${got.loss} (cpu ${ref.loss}); worst difference per weight, of its largest: ${list}`);
    }
  }
  process.exit(0);
}

for (const backend of backends) {
  if (backend === "wasm" && threads > 1) setThreadsCount(threads);
  await tf.setBackend(backend);
  await tf.ready();
  const product = PRODUCTS[matMulGrad];
  const batches = raw.map(toTensors);
  const m = buildModel();
  const opt = tf.train.adam(1e-3);
  const step = (i) => {
    const b = batches[i % batches.length];
    const cost = opt.minimize(() => {
      const [zc, zv] = forward(m, b, product);
      return loss(zc, zv, b.click, b.ctcvr);
    }, true);
    cost.dataSync();
    cost.dispose();
  };
  for (let i = 0; i < 3; i++) step(i);
  let t = performance.now();
  for (let i = 0; i < steps; i++) step(i);
  const train = (steps * B) / ((performance.now() - t) / 1e3);
  t = performance.now();
  for (let i = 0; i < steps; i++) {
    tf.tidy(() => {
      const [zc, zv] = forward(m, batches[i % batches.length], product);
      tf.mul(tf.sigmoid(zc), tf.sigmoid(zv)).dataSync();
    });
  }
  const infer = (steps * B) / ((performance.now() - t) / 1e3);
  const used = backend === "wasm" ? `, ${getThreadsCount()} thread(s)` : ", 1 thread";
  console.log(`TensorFlow.js ${tf.version_core} ${backend}${used}, V = ${V}, matMul gradient ${matMulGrad}: train ${train.toFixed(0)} samples/s, inference ${infer.toFixed(0)} samples/s`);
  tf.disposeVariables();
  opt.dispose();
  for (const b of batches) tf.dispose([b.ids, b.at, b.click, b.ctcvr]);
}
