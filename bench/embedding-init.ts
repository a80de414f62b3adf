/**
 * The study behind the embedding initialiser default (docs/results.md):
 *   npm run build:bench && node build/bench/embedding-init.js STD VARIANT [EPOCHS] [LR]
 * trains on 100,000 simulated impressions (seed 7, stream 0) and prints validation metrics
 * (50,000 impressions, stream 1) after every epoch.
 */
import { AppStoreSimulator, Esmm, train, denseStats } from "../src/index.js";
const [std, variant, epochs, lr] = [Number(process.argv[2]), (process.argv[3] ?? "esmm-mmoe") as "esmm-mmoe", Number(process.argv[4] ?? 3), Number(process.argv[5] ?? 1e-3)];
const sim = new AppStoreSimulator({});
const tr = sim.dataset(100_000, 0);
const va = sim.dataset(50_000, 1);
const st = denseStats(tr);
const m = new Esmm({ preset: variant, fields: sim.fieldSpecs(), dense: ["app_downloads", "user_tenure"], denseMean: st.mean, denseStd: st.std, seed: 1, embeddingInit: { kind: "normal", std } });
const f = (v: number | null | undefined) => (v == null ? "-" : v.toFixed(4));
await train(m, tr, { epochs, batchSize: 1024, lr, valid: va, onEpoch: (e) => console.log(`std=${std} ${variant} lr=${lr} ep${e.epoch} loss=${e.loss.toFixed(4)} ctr=${f(e.valid!.ctrAuc)} cvr=${f(e.valid!.cvrAuc)} ctcvr=${f(e.valid!.ctcvrAuc)} esCvr=${f(e.valid!.truth!.cvrAucEntireSpace)} ctrLL=${f(e.valid!.ctrLogLoss)} ctcvrLL=${f(e.valid!.ctcvrLogLoss)} ${e.seconds.toFixed(0)}s`) });
