// How spread ESCM2's inverse propensity weights are on the training clicks, with the simulator's true
// pCTR as the propensity and with the pCTR of a trained escm2-ips model (esmm compare's protocol:
// 100,000 training impressions of world seed 7, fitted vocabularies, 2 epochs, batch 1024, Adam 1e-3),
// both clipped as the objective clips them (at 0.05 by default, as --ips-clip). The effective sample size (Kish's: (sum w)^2 /
// sum w^2) says how many equally weighted clicks the weighted CVR loss is worth (docs/results.md,
// "What stands between ESCM2 and BASE with strong bias").
// Usage: npm run build && node scripts/ips-weights.mjs [bias] [seeds] [clip] (default: 3, 5, 0.05)
import { AppStoreSimulator, DENSE_FEATURES, Esmm, IdVocabulary, denseStats, propensityWeights, scoreDataset, train } from "../dist/index.js";

const bias = Number(process.argv[2] ?? 3);
const seeds = Number(process.argv[3] ?? 5);
const sim = new AppStoreSimulator({ seed: 7, bias });
const raw = sim.dataset(100_000, 0);
const vocab = IdVocabulary.fit(raw, sim.fieldSpecs());
const tr = vocab.dataset(raw);
const st = denseStats(tr);
const clip = Number(process.argv[4] ?? 0.05);
const cf = { clip, normalize: false };
const logit = (p) => Float32Array.from(p, (x) => Math.log(x / (1 - x)));

/** The weights' sum against the impressions (an unclipped, right propensity makes it near 100%), mean and median weight over the clicks, the share of clicks at the clip, and the effective sample size. */
function spread(pCtr) {
  const { w } = propensityWeights(logit(pCtr), tr.click, cf);
  const c = [];
  let clipped = 0;
  for (let i = 0; i < tr.size; i++) {
    if (tr.click[i] !== 1) continue;
    c.push(w[i]);
    if (pCtr[i] <= cf.clip) clipped++;
  }
  c.sort((a, b) => a - b);
  const s = c.reduce((a, b) => a + b, 0);
  const s2 = c.reduce((a, b) => a + b * b, 0);
  return `weights sum to ${((100 * s) / tr.size).toFixed(1)}% of the ${tr.size} impressions, mean ${(s / c.length).toFixed(2)}, median ${c[c.length >> 1].toFixed(2)}, at the clip ${((100 * clipped) / c.length).toFixed(1)}%, effective sample ${((s * s) / s2).toFixed(0)} of ${c.length} clicks`;
}

console.log(`bias ${bias}, clip ${clip}, true pCTR:               ${spread(tr.truePctr)}`);
for (let seed = 1; seed <= seeds; seed++) {
  const m = new Esmm({ preset: "escm2-ips", fields: vocab.fields, dense: [...DENSE_FEATURES], denseMean: st.mean, denseStd: st.std, seed });
  await train(m, tr, { epochs: 2, batchSize: 1024, seed });
  console.log(`bias ${bias}, clip ${clip}, escm2-ips seed ${seed}'s pCTR: ${spread(scoreDataset(m, tr).pCtr)}`);
}
