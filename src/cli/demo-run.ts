/**
 * One variant of the demo, start to finish: simulate, train, evaluate. Runs in a worker thread (two
 * variants train at once on two cores) or inline; pure computation, no files.
 */
import { AppStoreSimulator, DENSE_FEATURES, Esmm, denseStats, evaluate, gateUsage, train, type EsmmMetrics, type Preset } from "../index.js";

export interface DemoJob {
  variant: Preset;
  trainRows: number;
  validRows: number;
  testRows: number;
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  sim: { seed: number; ctr: number; cvr: number; bias: number };
}

export interface DemoResult {
  variant: Preset;
  parameters: number;
  /** Training loss (total, ctr, cvr) every few steps. */
  curve: Array<{ step: number; loss: number; ctr: number; cvr: number }>;
  /** Validation metrics after each epoch. */
  epochs: Array<{ epoch: number; seconds: number; samplesPerSec: number; valid: EsmmMetrics }>;
  test: EsmmMetrics;
  gates: { ctr: number[]; cvr: number[] } | null;
  seconds: number;
}

export async function runDemoJob(job: DemoJob, onProgress: (msg: string) => void): Promise<DemoResult> {
  const t0 = performance.now();
  const sim = new AppStoreSimulator(job.sim);
  const tr = sim.dataset(job.trainRows, 0);
  const va = sim.dataset(job.validRows, 1);
  const te = sim.dataset(job.testRows, 2);
  const st = denseStats(tr);
  const model = new Esmm({ preset: job.variant, fields: sim.fieldSpecs(), dense: [...DENSE_FEATURES], denseMean: st.mean, denseStd: st.std, seed: job.seed });
  const curve: DemoResult["curve"] = [];
  const epochs: DemoResult["epochs"] = [];
  let steps = 0;
  const every = 10;
  await train(model, tr, {
    epochs: job.epochs,
    batchSize: job.batch,
    lr: job.lr,
    seed: job.seed,
    valid: va,
    progressEvery: every,
    onProgress: (e) => {
      if (e.step % every !== 0) return; // the end-of-epoch event repeats a step
      steps += every;
      curve.push({ step: steps, loss: e.loss, ctr: e.ctrLoss, cvr: e.cvrLoss });
      if (steps % 50 === 0) onProgress(`${job.variant}: epoch ${e.epoch + 1}/${job.epochs}, ${e.rows}/${e.epochRows} rows, ${Math.round(e.samplesPerSec)} rows/s`);
    },
    onEpoch: (r) => {
      epochs.push({ epoch: r.epoch, seconds: r.seconds, samplesPerSec: r.rows / r.seconds, valid: r.valid! });
    },
  });
  return {
    variant: job.variant,
    parameters: model.parameterCount(),
    curve,
    epochs,
    test: evaluate(model, te),
    gates: gateUsage(model, te),
    seconds: (performance.now() - t0) / 1000,
  };
}
