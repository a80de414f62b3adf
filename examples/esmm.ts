/**
 * ESMM in a few lines: simulate an app store, train esmm-mmoe with progress reports, evaluate.
 * `npm run example -- esmm`. The README shows the lines between the markers, and
 * test/readme.test.ts checks that it still does and that the example runs.
 */
import { AppStoreSimulator, Esmm, IdVocabulary, train, evaluate, denseStats } from "../src/index.js";

export async function main(rows = 100_000): Promise<string[]> {
  const log: string[] = [];
  const print = (...v: unknown[]): void => void log.push(v.join(" "));
  // README:start
  const sim = new AppStoreSimulator({ seed: 7 });             // a simulated app store with ground truth
  const impressions = sim.dataset(rows, 0);                 // stream 0: training impressions
  const vocab = IdVocabulary.fit(impressions, sim.fieldSpecs()); // the ids training holds; the rest read the out-of-vocabulary row
  const trainSet = vocab.dataset(impressions);
  const testSet = vocab.dataset(sim.dataset(rows, 2));      // stream 2: held-out impressions
  const { mean, std } = denseStats(trainSet);
  const model = new Esmm({ preset: "esmm-mmoe", fields: vocab.fields, dense: ["app_downloads", "user_tenure"], denseMean: mean, denseStd: std });
  await train(model, trainSet, {
    epochs: 2,
    batchSize: 1024,
    lr: 1e-3,
    progressEvery: 50,                                        // onProgress every 50 steps and at each epoch's end
    onProgress: (e) => print(`epoch ${e.epoch + 1} step ${e.step}: loss ${e.loss.toFixed(4)} (ctr ${e.ctrLoss.toFixed(4)}, ctcvr ${e.cvrLoss.toFixed(4)}), ${Math.round(e.samplesPerSec)} rows/s`),
  });
  const m = evaluate(model, testSet);
  print("CTR AUC", m.ctrAuc?.toFixed(4), "CVR AUC (clicked)", m.cvrAuc?.toFixed(4), "CTCVR AUC", m.ctcvrAuc?.toFixed(4), "entire-space CVR AUC", m.truth?.cvrAucEntireSpace?.toFixed(4));

  const out = model.forward(trainSet.take([0, 1, 2], 0, 3)); // named outputs
  out.pCtr; out.pCvr; out.pCtcvr; out.gates?.ctr;             // tensors: [B], [B], [B], [B, E]
  // README:end
  return log;
}
