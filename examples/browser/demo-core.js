// The browser demo's computation, shared by the page's Web Worker and by the Node test that checks the
// page computes the same numbers. Plain ES module: it imports the built core from dist/, nothing else.
import { Adam, AppStoreSimulator, DENSE_FEATURES, Esmm, IdVocabulary, MULTI_FIELDS, Rng, SINGLE_FIELDS, ScoringModel, denseStats, evaluate, identity, modelFromCheckpoint, splitCsvLine, train as trainModel } from "../../dist/index.js";

export const DEFAULTS = { seed: 1, simSeed: 7, users: 2000, apps: 400, trainRows: 30000, validRows: 10000, steps: 300, batch: 256, lr: 0.002 };

/** The simulated world of the demo (small, so a page builds it in a blink). */
export function makeSimulator(o) {
  return new AppStoreSimulator({ seed: o.simSeed, users: o.users, apps: o.apps });
}

/**
 * Trains esmm-mmoe step by step; yields { step, loss, ctr, cvr } after every step and returns
 * { model, sim, vocab, metrics } at the end. Deterministic for the options.
 */
/** The demo's world, data, fresh model and optimiser for the options. */
function setup(opts) {
  const o = { ...DEFAULTS, ...opts };
  const sim = makeSimulator(o);
  const rows = sim.dataset(o.trainRows, 0);
  // the vocabularies esmm train would fit on these rows: an id they never hold reads the out-of-vocabulary row
  const vocab = IdVocabulary.fit(rows, sim.fieldSpecs());
  const train = vocab.dataset(rows);
  const valid = vocab.dataset(sim.dataset(o.validRows, 1));
  const st = denseStats(train);
  const model = new Esmm({ preset: "esmm-mmoe", fields: vocab.fields, dense: [...DENSE_FEATURES], denseMean: st.mean, denseStd: st.std, seed: o.seed });
  return { o, sim, vocab, train, valid, model, opt: new Adam(model.namedParameters(), { lr: o.lr }) };
}

/** The training batches, in order: a seeded shuffle of the data, reshuffled when it runs out. */
function* batchesOf(train, o) {
  const rng = new Rng(o.seed);
  let order = rng.shuffle(identity(train.size));
  let at = 0;
  for (let step = 1; step <= o.steps; step++) {
    if (at + o.batch > train.size) {
      order = rng.shuffle(identity(train.size));
      at = 0;
    }
    yield train.take(order, at, at + o.batch);
    at += o.batch;
  }
}

/** The validation metrics the page shows, from evaluate's (or train's) metrics. */
function shown(m) {
  return { ctrAuc: m.ctrAuc, cvrAuc: m.cvrAuc, ctcvrAuc: m.ctcvrAuc, cvrAucEntireSpace: m.truth ? m.truth.cvrAucEntireSpace : null };
}

export function validation(model, valid) {
  return shown(evaluate(model, valid));
}

export function* trainSteps(opts = {}) {
  const { o, sim, vocab, train, valid, model, opt } = setup(opts);
  let step = 0;
  for (const b of batchesOf(train, o)) {
    const l = model.loss(model.forward(b), b.click, b.conversion);
    opt.zeroGrad();
    l.total.backward();
    opt.step();
    yield { step: ++step, loss: l.total.item(), ctr: l.ctr, cvr: l.cvr };
  }
  return { model, sim, vocab, metrics: validation(model, valid) };
}

/**
 * The same training on `threads` threads (data-parallel: each batch cut into shards computed at once;
 * needs a registered worker implementation: esmm-ts/web in a page, esmm-ts/node in Node): the same
 * batches in the same order as trainSteps; onStep(step) after every step. Resolves to
 * { losses, model, sim, vocab, metrics }. Deterministic for the options and the thread count.
 */
export async function trainThreaded(opts = {}, threads = 2, onStep = () => {}) {
  const { o, sim, vocab, train, valid, model, opt } = setup(opts);
  const losses = [];
  // the validation set is scored by the same threads, in chunks to whichever is free (the same scores)
  const r = await trainModel(model, { batches: () => batchesOf(train, o) }, {
    epochs: 1,
    optimizer: opt,
    threads,
    valid,
    progressEvery: 1,
    onProgress: (e) => {
      if (e.step > losses.length) {
        losses.push(e.loss);
        onStep({ step: e.step, loss: e.loss, ctr: e.ctrLoss, cvr: e.cvrLoss });
      }
    },
  });
  return { losses, model, sim, vocab, metrics: shown(r.history.at(-1).valid) };
}

/** Runs trainSteps to the end; returns the per-step losses, the metrics, the model and the simulator. */
export function trainAll(opts = {}) {
  const it = trainSteps(opts);
  const losses = [];
  for (;;) {
    const r = it.next();
    if (r.done) return { losses, ...r.value };
    losses.push(r.value.loss);
  }
}

/**
 * The simulator's candidate rows as records of raw values, as `esmm generate` writes them to CSV
 * (ids as text, a bag as "id:weight|...", dense values to 6 significant digits): what a model trained
 * by the CLI on such files scores through its own vocabularies.
 */
export function candidateRecords(batch) {
  const Fs = SINGLE_FIELDS.length;
  const bag = batch.bags[0];
  return Array.from({ length: batch.size }, (_, i) => {
    const r = {};
    SINGLE_FIELDS.forEach((f, k) => (r[f] = String(batch.ids[i * Fs + k])));
    const parts = [];
    for (let j = bag.offsets[i]; j < bag.offsets[i + 1]; j++) parts.push(`${bag.ids[j]}:${bag.weights ? bag.weights[j] : 1}`);
    r[MULTI_FIELDS[0]] = parts.join("|");
    r[DENSE_FEATURES[0]] = Number(batch.dense[i * 2].toPrecision(6));
    r[DENSE_FEATURES[1]] = batch.dense[i * 2 + 1];
    return r;
  });
}

/**
 * Scores the `count` most popular apps for one user and ranks them by pCTCVR. With a `scorer` (a
 * checkpoint trained by the CLI, with its vocabularies), the rows go through it as records; without
 * one (a model trained here), through the vocabularies it was trained with (`vocab`) to the model.
 */
export function rankForUser(model, sim, user, count = 20, scorer = null, vocab = null) {
  const apps = Array.from({ length: Math.min(count, sim.size.apps) }, (_, i) => i);
  const { batch, truth } = sim.candidates(user, apps);
  let scores;
  if (scorer) scores = scorer.scoreSync(candidateRecords(batch));
  else {
    const s = model.predict(vocab ? vocab.batch(batch) : batch);
    const E = s.gates ? s.gates.ctr.length / batch.size : 0;
    scores = apps.map((_, i) => ({
      pCtr: s.pCtr[i],
      pCvr: s.pCvr[i],
      pCtcvr: s.pCtcvr[i],
      gates: E ? { ctr: Array.from(s.gates.ctr.subarray(i * E, (i + 1) * E)), cvr: Array.from(s.gates.cvr.subarray(i * E, (i + 1) * E)) } : undefined,
    }));
  }
  const rows = apps.map((app, i) => ({
    app,
    pCtr: scores[i].pCtr,
    pCvr: scores[i].pCvr,
    pCtcvr: scores[i].pCtcvr,
    gatesCtr: scores[i].gates ? scores[i].gates.ctr : [],
    gatesCvr: scores[i].gates ? scores[i].gates.cvr : [],
    truePctr: truth[i].pCtr,
    truePcvr: truth[i].pCvr,
  }));
  rows.sort((a, b) => b.pCtcvr - a.pCtcvr || a.app - b.app);
  return rows;
}

/** The rows of a CSV text as records of their raw cells (header names as keys). */
export function csvRecords(text) {
  const [head, ...lines] = text.replace(/\r/g, "").trimEnd().split("\n");
  const cols = splitCsvLine(head, ",");
  return lines.filter((l) => l !== "").map((l) => Object.fromEntries(splitCsvLine(l, ",").map((c, i) => [cols[i], c])));
}

/**
 * Loads a checkpoint's model.json and weights.safetensors from fetched bytes: the model, and, when the
 * checkpoint carries its preprocessing (one written by `esmm train`), a scorer of raw records.
 */
export async function loadCheckpoint(baseUrl, fetchFn = fetch) {
  const base = baseUrl.endsWith("/") ? baseUrl : baseUrl + "/";
  const [j, w] = await Promise.all([fetchFn(base + "model.json"), fetchFn(base + "weights.safetensors")]);
  if (!j.ok || !w.ok) throw new Error(`cannot fetch the checkpoint at ${base} (${j.status}, ${w.status})`);
  const { model, preprocessor } = modelFromCheckpoint(await j.text(), new Uint8Array(await w.arrayBuffer()));
  return { model, scorer: preprocessor ? new ScoringModel(model, preprocessor) : null };
}
