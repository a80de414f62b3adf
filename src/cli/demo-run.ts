/**
 * One model of the demo or of `esmm compare`, start to finish: simulate, train, evaluate. Runs in a
 * worker thread (one model per core) or inline; pure computation, no files.
 */
import {
  AppStoreSimulator,
  DENSE_FEATURES,
  Esmm,
  denseStats,
  drawSessions,
  evaluateWithGates,
  playModel,
  scoreSessions,
  sessionBatch,
  gateStats,
  IdVocabulary,
  taskGradientNorms,
  train,
  type AbSettings,
  type ArmOutcome,
  type Bottom,
  type CsvOptions,
  type Dataset,
  type FieldSpec,
  type CounterfactualConfig,
  type EmbeddingInit,
  type EsmmMetrics,
  type ExpertShare,
  type GateStats,
  type LossWeights,
  type MetricName,
  type ObjectiveName,
  type TermKey,
} from "../index.js";
import { checkSchema, emptyStats, fitAndLoad, loadDataset, openSource, type Format, type RowSource } from "../node/index.js";
import { csvOptionsOf } from "./shared.js";

/** A model to train: its bottom and objective and whatever else it changes from the defaults. */
export interface ModelSpec {
  bottom: Bottom;
  objective: ObjectiveName;
  counterfactual?: Partial<CounterfactualConfig>;
  embeddingInit?: EmbeddingInit;
  dim?: number;
  experts?: { count?: number; hidden?: number[]; share?: ExpertShare; gatePrior?: number; dropout?: number };
  towers?: { hidden?: number[]; cvr?: number[] };
  lossWeights?: LossWeights;
}

export interface DemoJob {
  /** The model's name in tables (a preset's, or one the caller gives). */
  variant: string;
  model: ModelSpec;
  trainRows: number;
  validRows: number;
  testRows: number;
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  sim: {
    seed: number;
    ctr: number;
    cvr: number;
    bias: number;
    users?: number;
    apps?: number;
    /**
     * The model's vocabularies: "fitted" (the default) keeps the ids the simulated training rows
     * hold at least `minCount` times (default 1) and reads the others as out-of-vocabulary, as
     * `esmm train` does with a file; "world" gives every user and app of the world a row of its own,
     * trained or not, as every comparison before 2026-12-08 did (see `IdVocabulary`).
     */
    vocab?: "fitted" | "world";
    minCount?: number;
  };
  /** Stop when this validation metric stops improving, keeping the best epoch's weights. */
  earlyStop?: { metric: MetricName; patience: number };
  /** Record gate statistics and each task's gradient norm into each expert after every epoch. */
  diagnostics?: boolean;
  /** Play the trained model as an arm of a simulated A/B test (ranked by pCTCVR). */
  abtest?: AbSettings;
  /** Train, validate and test on files instead of the simulator (`sim` and the row counts are then unused). */
  files?: { train: string; valid: string; test: string | null; format: Format; csv: CsvOptions; minCount: number; common?: string; /** `--schema`: read instead of the training file's sidecar */ schema?: string };
}

export interface EpochDiagnostics {
  epoch: number;
  gates: GateStats | null;
  /** Per loss term, the gradient norm it sends into each expert (on the first validation batch). */
  gradNorms: Partial<Record<TermKey, number[]>>;
}

export interface DemoResult {
  variant: string;
  objective: ObjectiveName;
  seed: number;
  parameters: number;
  /** Training loss (total, ctr, cvr) every few steps. */
  curve: Array<{ step: number; loss: number; ctr: number; cvr: number }>;
  /** Validation metrics after each epoch. */
  epochs: Array<{ epoch: number; seconds: number; samplesPerSec: number; valid: EsmmMetrics }>;
  /** The epoch whose weights were tested (the last, or the best with early stopping). */
  bestEpoch: number;
  test: EsmmMetrics;
  gates: { ctr: number[]; cvr: number[] } | null;
  diagnostics?: EpochDiagnostics[];
  /** The model's outcome in each session of the simulated A/B test. */
  abtest?: ArmOutcome;
  seconds: number;
}

/** The model of a job for its data's fields and dense statistics. */
function modelOf(job: DemoJob, fields: FieldSpec[], dense: string[], st: { mean: number[]; std: number[] }): Esmm {
  const { lossWeights: _lw, ...spec } = job.model;
  return new Esmm({ ...spec, fields, dense, denseMean: st.mean, denseStd: st.std, seed: job.seed });
}

/**
 * The job's data and a model for it: the simulator's streams 0 / 1 / 2 (their vocabularies fitted on
 * stream 0 unless `sim.vocab` is "world"), or files (the preprocessing fitted on the training file, as
 * esmm train fits it; the test set is the validation file unless one is given).
 */
async function dataAndModel(job: DemoJob): Promise<{ tr: Dataset; va: Dataset; te: Dataset; model: Esmm; sim: AppStoreSimulator | null; vocab: IdVocabulary | null }> {
  const d = await dataOf(job);
  return { tr: d.tr, va: d.va, te: d.te, sim: d.sim, vocab: d.vocab, model: modelOf(job, d.fields, d.dense, d.stats) };
}

/** A job's data and what its model needs to know of it (fields, dense features and their statistics). */
interface JobData {
  tr: Dataset;
  va: Dataset;
  te: Dataset;
  sim: AppStoreSimulator | null;
  /** Simulated data with fitted vocabularies: the world's ids -> the model's rows (the A/B test's candidates go through it). */
  vocab: IdVocabulary | null;
  fields: FieldSpec[];
  dense: string[];
  stats: { mean: number[]; std: number[] };
}

/**
 * The last job's data, kept for the next job on this thread: the jobs of a demo or a comparison
 * (models x seeds) share their data, and simulating it took 0.3-0.45 s of a 7 s job. Datasets and the
 * simulator are never written to after they are built, so sharing them changes no result.
 */
let lastData: { key: string; data: Promise<JobData> } | null = null;

function dataOf(job: DemoJob): Promise<JobData> {
  const key = JSON.stringify([job.sim, job.files ?? null, job.trainRows, job.validRows, job.testRows]);
  if (lastData?.key !== key) {
    const data = loadJobData(job);
    data.catch(() => {
      if (lastData?.data === data) lastData = null; // a failed load is not kept
    });
    lastData = { key, data };
  }
  return lastData.data;
}

async function loadJobData(job: DemoJob): Promise<JobData> {
  if (!job.files) {
    const sim = new AppStoreSimulator(job.sim);
    const tr = sim.dataset(job.trainRows, 0);
    const [va, te] = [sim.dataset(job.validRows, 1), sim.dataset(job.testRows, 2)];
    const common = { sim, dense: [...DENSE_FEATURES], stats: denseStats(tr) };
    if (job.sim.vocab === "world") return { tr, va, te, vocab: null, fields: sim.fieldSpecs(), ...common };
    const vocab = IdVocabulary.fit(tr, sim.fieldSpecs(), { minCount: job.sim.minCount ?? 1 });
    return { tr: vocab.dataset(tr), va: vocab.dataset(va), te: vocab.dataset(te), vocab, fields: vocab.fields, ...common };
  }
  const f = job.files;
  const open = (path: string, csv: CsvOptions, schemaFile?: string): Promise<RowSource> => openSource({ format: f.format, path, csv, ...(f.common ? { common: f.common } : {}), ...(schemaFile ? { schemaFile } : {}) });
  // one pass over the training file fits the vocabularies and keeps its rows; the others map through them
  const { pre, data: tr } = await fitAndLoad(await open(f.train, f.csv, f.schema), { minCount: f.minCount });
  const load = async (path: string): Promise<Dataset> => {
    const src = await open(path, f.format === "aliccp-raw" ? {} : { ...csvOptionsOf(pre.schema), ...(f.csv.delimiter ? { delimiter: f.csv.delimiter } : {}) });
    checkSchema(src, pre, path);
    return loadDataset(src, pre, emptyStats());
  };
  const va = await load(f.valid);
  const te = f.test ? await load(f.test) : va;
  return { tr, va, te, sim: null, vocab: null, fields: pre.fieldSpecs(), dense: pre.schema.dense, stats: { mean: pre.denseMean, std: pre.denseStd } };
}

export async function runDemoJob(job: DemoJob, onProgress: (msg: string) => void): Promise<DemoResult> {
  const t0 = performance.now();
  const { tr, va, te, model, sim, vocab } = await dataAndModel(job);
  const curve: DemoResult["curve"] = [];
  const epochs: DemoResult["epochs"] = [];
  const diagnostics: EpochDiagnostics[] = [];
  const probe = va.take(Array.from({ length: va.size }, (_, i) => i), 0, Math.min(va.size, 4096));
  let steps = 0;
  const every = 10;
  const r = await train(model, tr, {
    epochs: job.epochs,
    batchSize: job.batch,
    lr: job.lr,
    seed: job.seed,
    valid: va,
    ...(job.model.lossWeights ? { lossWeights: job.model.lossWeights } : {}),
    ...(job.earlyStop ? { earlyStopping: job.earlyStop } : {}),
    progressEvery: every,
    onProgress: (e) => {
      if (e.step % every !== 0) return; // the end-of-epoch event repeats a step
      steps += every;
      curve.push({ step: steps, loss: e.loss, ctr: e.ctrLoss, cvr: e.cvrLoss });
      if (steps % 50 === 0) onProgress(`${job.variant} (seed ${job.seed}): epoch ${e.epoch + 1}/${job.epochs}, ${e.rows}/${e.epochRows} rows, ${Math.round(e.samplesPerSec)} rows/s`);
    },
    onEpoch: (rec) => {
      epochs.push({ epoch: rec.epoch, seconds: rec.seconds, samplesPerSec: rec.rows / rec.seconds, valid: rec.valid! });
      if (job.diagnostics) diagnostics.push({ epoch: rec.epoch, gates: gateStats(model, va), gradNorms: taskGradientNorms(model, probe) });
    },
  });
  let abtest: ArmOutcome | undefined;
  if (job.abtest && sim) {
    const sessions = drawSessions(sim, job.abtest);
    const inputs = (chunk: Parameters<typeof sessionBatch>[1]) => (vocab ? vocab.batch(sessionBatch(sim, chunk)) : sessionBatch(sim, chunk));
    const scores = scoreSessions(sessions, (chunk) => model.predict(inputs(chunk)), 100);
    abtest = playModel(sim, sessions, scores, "pCtcvr", job.abtest.top);
  }
  const tested = evaluateWithGates(model, te); // the test metrics and the gates' usage from one pass
  return {
    variant: job.variant,
    objective: model.config.objective,
    ...(abtest ? { abtest } : {}),
    seed: job.seed,
    parameters: model.parameterCount(),
    curve,
    epochs,
    bestEpoch: job.earlyStop ? r.bestEpoch : epochs.length - 1,
    test: tested.metrics,
    gates: tested.gates,
    ...(job.diagnostics ? { diagnostics } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}
