// Where two vocabularies' test figures differ: trains each preset over model seeds 1-5 on the
// strong-bias simulator (esmm compare's protocol: 100,000 training impressions, 2 epochs, batch 1024,
// Adam 1e-3), once with a row for every id of the world (`--vocab world`) and once with the ids the
// training rows hold (`--vocab fitted`, the default), and prints the entire-space CVR AUC on all test
// rows, on those whose user the training rows hold, and on the others (docs/results.md, 2026-12-08).
// Usage: npm run build && node scripts/unseen-users.mjs [preset ...] (default: base esmm)
import { AppStoreSimulator, DENSE_FEATURES, Esmm, IdVocabulary, denseStats, meanOf, sampleStd, scoreDataset, train, weightedAuc } from "../dist/index.js";

const sim = new AppStoreSimulator({ seed: 7, bias: 3 });
const [tr, te] = [sim.dataset(100_000, 0), sim.dataset(100_000, 2)];
const Fs = tr.numSingle;
const trained = new Set(Array.from({ length: tr.size }, (_, r) => tr.ids[r * Fs])); // field 0 is user_id
const known = Array.from({ length: te.size }, (_, r) => trained.has(te.ids[r * Fs]));
const vocab = IdVocabulary.fit(tr, sim.fieldSpecs());
const st = denseStats(tr);

/** The entire-space CVR AUC (pCVR against the true pCVR) over the test rows `keep` picks. */
function auc(pCvr, keep) {
  const [s, pos, neg] = [[], [], []];
  for (let i = 0; i < pCvr.length; i++) {
    if (!keep(i)) continue;
    s.push(pCvr[i]);
    pos.push(te.truePcvr[i]);
    neg.push(1 - te.truePcvr[i]);
  }
  return weightedAuc(s, pos, neg);
}

const summary = (xs) => `${meanOf(xs).toFixed(4)} +- ${sampleStd(xs).toFixed(4)}`;

console.log(`test rows whose user the training rows hold: ${known.filter(Boolean).length} of ${te.size}`);
for (const preset of process.argv.length > 2 ? process.argv.slice(2) : ["base", "esmm"]) {
  for (const mode of ["world", "fitted"]) {
    const runs = [];
    for (let seed = 1; seed <= 5; seed++) {
      const fields = mode === "world" ? sim.fieldSpecs() : vocab.fields;
      const model = new Esmm({ preset, fields, dense: [...DENSE_FEATURES], denseMean: st.mean, denseStd: st.std, seed });
      await train(model, mode === "world" ? tr : vocab.dataset(tr), { epochs: 2, batchSize: 1024, lr: 1e-3, seed });
      const p = scoreDataset(model, mode === "world" ? te : vocab.dataset(te)).pCvr;
      runs.push([auc(p, () => true), auc(p, (i) => known[i]), auc(p, (i) => !known[i])]);
    }
    const col = (k) => summary(runs.map((r) => r[k]));
    console.log(`${preset.padEnd(10)} ${mode.padEnd(6)}  all ${col(0)}  user held ${col(1)}  user not held ${col(2)}  per seed: ${runs.map((r) => r[0].toFixed(4)).join(" ")}`);
  }
}
