/**
 * Training and evaluation loops. Browser-safe: no files, no timers beyond `performance.now()`.
 *
 * A step: forward -> entire-space loss -> backward -> Adam (dense and lazy-row updates) -> zero grads.
 */
import { Arena, Rng, firstNonFinite } from "../tensor/index.js";
import { Adam, type AdamOptions } from "../optim/index.js";
import { Dataset, identity, labelCounts, type LabeledBatch } from "./batch.js";
import { esmmMetrics, type EsmmMetrics } from "./metrics.js";
import { gradsOf, orderedScoring, sumShards, shardBatch, shardLossWeights, workerFactory, type ShardGrads, type ShardWorkers } from "./parallel.js";
import { predictFrom, type Esmm, type LossWeights, type Scores } from "./model.js";
import { checkLossWeights } from "./objectives.js";
import { InputRowError } from "../layers/index.js";

/** Where an InputRowError from scoring the validation set says it is (`row` counts from the set's first row). */
export const VALIDATION = "the validation data";

/** Any source of batches for one epoch: an array, a generator, or an async stream from a file. */
export interface BatchSource {
  /** The batches of one epoch, in order (a streaming source shuffles within its buffer, seeded by the epoch). */
  batches(epoch: number): Iterable<LabeledBatch> | AsyncIterable<LabeledBatch>;
}

/** A validation metric early stopping can watch. */
export type MetricName = "ctrAuc" | "cvrAuc" | "ctcvrAuc" | "ctrLogLoss" | "cvrLogLoss" | "ctcvrLogLoss";

/** What `onProgress` receives: the epoch, step and rows so far, the last batch's losses and the epoch's speed. */
export interface ProgressEvent {
  epoch: number;
  step: number;
  /** Rows seen so far in this epoch. */
  rows: number;
  /** Rows per epoch when known (in-memory data). */
  epochRows: number | null;
  loss: number;
  ctrLoss: number;
  cvrLoss: number;
  samplesPerSec: number;
}

/** What `train` records for each epoch: mean losses, rows, seconds, and the validation metrics when a validation set is given. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  ctrLoss: number;
  cvrLoss: number;
  rows: number;
  seconds: number;
  valid?: EsmmMetrics;
  /** esmm-mmoe with a validation set: each task's mean gate weight on each expert there (`gateUsage`), from the same scoring pass as `valid`. */
  validGates?: { ctr: number[]; cvr: number[] };
}

/** Options of `train`: Adam's (when it makes the optimizer), epochs, batch size, seeds, loss weights, validation and early stopping, callbacks, threads. */
export interface TrainOptions extends AdamOptions {
  epochs?: number;
  batchSize?: number;
  /** Seeds the shuffling of in-memory data. */
  seed?: number;
  lossWeights?: LossWeights;
  valid?: Dataset;
  /** Stop when `metric` on the validation set has not improved for `patience` epochs; restore the best weights. */
  earlyStopping?: { metric: MetricName; patience?: number };
  /** Called every `progressEvery` steps (default 20) and at the end of each epoch. */
  onProgress?: (e: ProgressEvent) => void;
  progressEvery?: number;
  /** Called after each epoch's validation; a returned promise is awaited (e.g. to save a checkpoint). */
  onEpoch?: (e: EpochRecord) => void | Promise<void>;
  /** An optimiser to continue with (resume); by default a fresh Adam with the options above. */
  optimizer?: Adam;
  /** Epoch number to start at (resume); default 0. */
  startEpoch?: number;
  /**
   * Threads of data-parallel training (default 1): each step's batch is cut into this many shards,
   * computed at once (see parallel.ts; needs a worker implementation such as esmm-ts/node's).
   * Deterministic for a seed and a thread count; another count rounds differently.
   */
  threads?: number;
  /**
   * With threads > 1, where each step's time goes on the calling thread: milliseconds added up per
   * phase over the run (`steps` counts the steps). Phases: `shard` (shard 0's forward and backward),
   * `wait` (for the workers' shards), `sum` (summing and checking this thread's parameters'
   * gradients), `verdicts` (for the workers' sums), `adam` (this thread's part of the update),
   * `update` (for the workers' parts). One more entry is not on this thread and not part of the
   * step's sum: `workerShard`, the workers' own forward and backward (their mean per step), beside
   * `shard` to tell a worker that is slower on average from a wait that comes from the two shards'
   * times varying step by step. `esmm bench` prints it.
   */
  phases?: Record<string, number>;
}

/**
 * Why `metric` is undefined on a validation set with these labels, whatever the model (null when it is
 * defined): an AUC needs both outcomes among its rows, and the CVR metrics need clicked rows.
 */
function undefinedMetric(metric: MetricName, click: Float32Array, conversion: Float32Array): string | null {
  const { clicks, conversions } = labelCounts(click, conversion);
  const rows = click.length;
  if (rows === 0) return "no rows";
  switch (metric) {
    case "ctrAuc":
      return clicks === 0 ? "no clicks" : clicks === rows ? "only clicks" : null;
    case "ctcvrAuc":
      return conversions === 0 ? "no conversions" : conversions === rows ? "only conversions" : null;
    case "cvrAuc":
      return clicks === 0 ? "no clicks" : conversions === 0 ? "no conversions among its clicks" : conversions === clicks ? "only conversions among its clicks" : null;
    case "cvrLogLoss":
      return clicks === 0 ? "no clicks" : null;
    default:
      return null;
  }
}

/** What `train` returns: every epoch's record, the epoch whose weights the model holds, and the optimizer (to save or continue with). */
export interface TrainResult {
  history: EpochRecord[];
  /** The epoch whose weights the model holds at the end (the best one with early stopping). */
  bestEpoch: number;
  optimizer: Adam;
}

/** Training stopped because a loss or a gradient stopped being a finite number. */
export class TrainingDivergedError extends Error {
  constructor(
    readonly epoch: number,
    readonly step: number,
    /** The parameter whose gradient went non-finite; null when the loss itself did. */
    readonly parameter: string | null,
    message: string,
  ) {
    super(message);
    this.name = "TrainingDivergedError";
  }
}

/** The error for a step whose loss or gradient is not finite, naming any parameter that holds NaN or infinity. */
function diverged(model: Esmm, epoch: number, step: number, what: string, gradOf: string | null): TrainingDivergedError {
  const p = model.namedParameters().find(([, t]) => firstNonFinite(t.data) !== null)?.[0] ?? null;
  const state = p ? `parameter "${p}" holds non-finite values` : "the weights are the last finite step's, no update was applied";
  return new TrainingDivergedError(epoch, step, p ?? gradOf, `training diverged at epoch ${epoch + 1}, step ${step}: ${what} (${state}). Lower the learning rate or clip gradients (--clip-norm).`);
}

const LOWER_IS_BETTER = new Set<MetricName>(["ctrLogLoss", "cvrLogLoss", "ctcvrLogLoss"]);

/**
 * Trains in place. Deterministic for a seed: two runs give bit-identical weights.
 *
 * Every step checks that the loss and every gradient are finite BEFORE the update, and throws a
 * TrainingDivergedError naming the epoch, the step and the parameter otherwise: the model then
 * holds the last good step's weights, and nothing non-finite reaches the optimiser or a checkpoint.
 */
export async function train(model: Esmm, data: Dataset | BatchSource, opts: TrainOptions = {}): Promise<TrainResult> {
  const epochs = opts.epochs ?? 1;
  const batchSize = opts.batchSize ?? 1024;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`train: batchSize must be a positive integer, got ${batchSize}`);
  if (opts.lossWeights !== undefined) checkLossWeights(opts.lossWeights, "train: lossWeights", model.config);
  const optimizer = opts.optimizer ?? new Adam(model.namedParameters(), opts);
  const rng = new Rng(opts.seed ?? model.config.seed);
  const every = opts.progressEvery ?? 20;
  const history: EpochRecord[] = [];
  const es = opts.earlyStopping;
  if (es && !opts.valid) throw new Error("train: earlyStopping needs a validation set (valid)");
  if (es && opts.valid) {
    const why = undefinedMetric(es.metric, opts.valid.click, opts.valid.conversion);
    if (why) throw new Error(`train: early stopping on ${es.metric} cannot pick an epoch: the validation set has ${why}, so ${es.metric} is undefined on it at every epoch`);
  }
  let best: { value: number; epoch: number; state: Map<string, Float32Array> } | null = null;
  let stale = 0;
  const arena = new Arena();
  const start = opts.startEpoch ?? 0;
  // Resuming at epoch k replays the k earlier shuffles, so the run continues on the same orders as
  // an uninterrupted one would.
  if (data instanceof Dataset) for (let e = 0; e < start; e++) rng.shuffle(identity(data.size));

  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`train: threads must be a positive integer, got ${threads}`);
  const workers = threads > 1 ? await workerFactory()(model, threads - 1, optimizer) : null;
  // the parameters this thread updates (the workers update the rest)
  const mine = workers ? new Set(model.namedParameters().map(([n]) => n).filter((n) => !workers.owned.some((o) => o.has(n)))) : null;
  const stepArena = new Arena();
  try {
    for (let epoch = start; epoch < start + epochs; epoch++) {
      const t0 = now();
      let step = 0;
      let rows = 0;
      let sumLoss = 0;
      let sumCtr = 0;
      let sumCvr = 0;
      const epochRows = data instanceof Dataset ? data.size : null;
      const source = data instanceof Dataset ? shuffledBatches(data, batchSize, rng) : data.batches(epoch);
      for await (const batch of source) {
        // One step inside the arena: its buffers are the previous step's, refilled (see Arena).
        const l = workers
          ? await parallelStep(model, optimizer, workers, mine!, batch, arena, stepArena, opts, epoch, step)
          : arena.run(() => {
              const out = model.forward(batch);
              const loss = model.loss(out, batch.click, batch.conversion, opts.lossWeights);
              const total = loss.total.item();
              if (total - total !== 0) throw diverged(model, epoch, step + 1, `the loss is ${total}`, null);
              loss.total.backward();
              const bad = optimizer.nonFiniteGradient();
              if (bad) throw diverged(model, epoch, step + 1, `the gradient of "${bad.name}" has ${bad.count} non-finite value(s)`, bad.name);
              optimizer.step();
              optimizer.zeroGrad();
              return { total, ctr: loss.ctr, cvr: loss.cvr };
            });
        step++;
        rows += batch.size;
        const total = l.total;
        sumLoss += total * batch.size;
        sumCtr += l.ctr * batch.size;
        sumCvr += l.cvr * batch.size;
        if (opts.onProgress && step % every === 0) {
          opts.onProgress({ epoch, step, rows, epochRows, loss: total, ctrLoss: l.ctr, cvrLoss: l.cvr, samplesPerSec: rows / Math.max(now() - t0, 1e-9) });
        }
      }
      const seconds = now() - t0;
      const rec: EpochRecord = { epoch, loss: sumLoss / Math.max(rows, 1), ctrLoss: sumCtr / Math.max(rows, 1), cvrLoss: sumCvr / Math.max(rows, 1), rows, seconds };
      opts.onProgress?.({ epoch, step, rows, epochRows, loss: rec.loss, ctrLoss: rec.ctrLoss, cvrLoss: rec.cvrLoss, samplesPerSec: rows / Math.max(seconds, 1e-9) });
      // validation on the same threads (the same scores as on one)
      if (opts.valid) {
        let scores: DatasetScores;
        try {
          scores = workers ? await scoreDatasetParallel(model, opts.valid, { threads, workers }) : scoreDataset(model, opts.valid);
        } catch (e) {
          throw e instanceof InputRowError ? new InputRowError(VALIDATION, e.row, e.reason) : e; // its row is the validation set's
        }
        const { metrics, gates } = metricsAndGates(model, opts.valid, scores);
        rec.valid = metrics;
        if (gates) rec.validGates = gates;
      }
      history.push(rec);
      await opts.onEpoch?.(rec);
      if (es && rec.valid) {
        const v = rec.valid[es.metric];
        const value = v === null ? Number.NaN : v;
        const better = best === null || (LOWER_IS_BETTER.has(es.metric) ? value < best.value : value > best.value);
        if (!Number.isNaN(value) && better) {
          best = { value, epoch, state: model.stateDict() };
          stale = 0;
        } else if (++stale >= (es.patience ?? 1)) {
          break;
        }
      }
    }
  } finally {
    await workers?.close();
  }
  if (best) model.loadStateDict(best.state);
  const bestEpoch = best ? best.epoch : (history.at(-1)?.epoch ?? start + epochs - 1);
  return { history, bestEpoch, optimizer };
}

/**
 * One data-parallel step (see ShardWorkers): shard 0 here (in `arena`) while the workers compute
 * the others; then each owner sums its parameters' gradients in shard order and, once every sum is
 * known to be finite, applies Adam to them. The caller's summing and update run in `stepArena`:
 * shard 0's sparse gradient parts, allocated in `arena`, are still read there.
 */
async function parallelStep(model: Esmm, optimizer: Adam, workers: ShardWorkers, mine: ReadonlySet<string>, batch: LabeledBatch, arena: Arena, stepArena: Arena, opts: TrainOptions, epoch: number, step: number): Promise<{ total: number; ctr: number; cvr: number }> {
  const ph = opts.phases;
  let t = ph ? performance.now() : 0;
  const lap = (phase: string): void => {
    if (!ph) return;
    const t1 = performance.now();
    ph[phase] = (ph[phase] ?? 0) + t1 - t;
    t = t1;
  };
  const shards = shardBatch(batch, workers.count + 1);
  const weights = shardLossWeights(model, shards, opts.lossWeights);
  const params = new Map(model.namedParameters());
  const pending = workers.run(shards.slice(1), weights.slice(1));
  let own: { total: number; ctr: number; cvr: number; handed: ShardGrads[] };
  try {
    own = arena.run(() => {
      const loss = model.loss(model.forward(shards[0]!), shards[0]!.click, shards[0]!.conversion, weights[0]);
      loss.total.backward();
      // shard 0's gradients of what each worker updates, to hand over once the workers are done
      // (in place where the kernels' memory is shared: left untouched until the step commits)
      const handed = workers.owned.map((names) => gradsOf(params, names));
      return { total: loss.total.item(), ctr: loss.ctr, cvr: loss.cvr, handed };
    });
  } catch (e) {
    await pending.catch(() => undefined);
    throw e;
  }
  lap("shard");
  const rest = await pending;
  lap("wait");
  if (ph) ph.workerShard = (ph.workerShard ?? 0) + rest.reduce((a, r) => a + (r.ms ?? 0), 0) / rest.length;
  // Each worker is handed the other shards' gradients of what it owns only now, with every result in.
  // Posting to a worker before reading the reply it has already sent delays that reply until the
  // worker has handled the new message (Node 20: a 2-3 ms wait per step here, the length of the
  // worker's sum); and no owner can sum before the slowest shard is in, so nothing is lost by waiting.
  workers.owned.forEach((names, i) =>
    workers.share(i, [
      { shard: 0, ...own.handed[i]! },
      ...rest.flatMap((r, j) => (j === i ? [] : [{ shard: j + 1, dense: r.dense.filter(([n]) => names.has(n)), sparse: r.sparse.filter(([n]) => names.has(n)) }])),
    ]),
  );
  const verdictsP = workers.verdicts();
  const wc = opts.lossWeights?.ctr ?? 1;
  const wv = opts.lossWeights?.cvr ?? 1;
  // Summing and checking here while the workers sum theirs; the update once every verdict is in.
  // Both run in stepArena: the coalesced sparse gradients of the first run are read by the second
  // (which allocates nothing, so the arena hands none of them out again).
  const merged = stepArena.run(() => {
    let total = own.total;
    let ctr = own.ctr * (weights[0]!.ctr ?? 0);
    let cvr = own.cvr * (weights[0]!.cvr ?? 0);
    rest.forEach((r, i) => {
      total += r.total;
      ctr += r.ctr * (weights[i + 1]!.ctr ?? 0);
      cvr += r.cvr * (weights[i + 1]!.cvr ?? 0);
    });
    sumShards(params, mine, 0, rest.map((r, i) => ({ ...r, shard: i + 1 })));
    const bad = optimizer.nonFiniteGradient(mine);
    return { total, loss: { total, ctr: wc ? ctr / wc : ctr, cvr: wv ? cvr / wv : cvr }, bad };
  });
  lap("sum");
  const verdicts = await verdictsP;
  lap("verdicts");
  const outcome = stepArena.run(() => {
    const { total, loss } = merged;
    if (total - total !== 0) return { loss, error: diverged(model, epoch, step + 1, `the loss is ${total}`, null) };
    const bad = merged.bad ?? verdicts.find((v) => v !== null) ?? null;
    if (bad) return { loss, error: diverged(model, epoch, step + 1, `the gradient of "${bad.name}" has ${bad.count} non-finite value(s)`, bad.name) };
    const done = workers.commit(true);
    optimizer.step(mine);
    optimizer.zeroGrad();
    return { loss, done };
  });
  if ("error" in outcome) {
    await workers.commit(false);
    optimizer.zeroGrad();
    throw outcome.error;
  }
  lap("adam");
  await outcome.done;
  workers.publish();
  lap("update");
  if (ph) ph.steps = (ph.steps ?? 0) + 1;
  return outcome.loss;
}

function* shuffledBatches(ds: Dataset, batchSize: number, rng: Rng): Generator<LabeledBatch> {
  const order = rng.shuffle(identity(ds.size));
  for (let s = 0; s < ds.size; s += batchSize) yield ds.take(order, s, Math.min(s + batchSize, ds.size));
}

function now(): number {
  return performance.now() / 1000;
}

export type DatasetScores = { pCtr: Float32Array; pCvr: Float32Array; pCtcvr: Float32Array; gates?: { ctr: Float32Array; cvr: Float32Array } };

/** The arrays of a dataset's scores, and where each batch's scores go in them. */
function scoreSink(model: Esmm, n: number): { put(sc: Scores, at: number): void; result(): DatasetScores } {
  const pCtr = new Float32Array(n);
  const pCvr = new Float32Array(n);
  const pCtcvr = new Float32Array(n);
  const E = model.gates ? model.config.experts.count : 0;
  const gates = E ? { ctr: new Float32Array(n * E), cvr: new Float32Array(n * E) } : undefined;
  return {
    put(sc, at) {
      pCtr.set(sc.pCtr, at);
      pCvr.set(sc.pCvr, at);
      pCtcvr.set(sc.pCtcvr, at);
      if (gates && sc.gates) {
        gates.ctr.set(sc.gates.ctr, at * E);
        gates.cvr.set(sc.gates.cvr, at * E);
      }
    },
    result: () => (gates ? { pCtr, pCvr, pCtcvr, gates } : { pCtr, pCvr, pCtcvr }),
  };
}

/** Scores every row of a dataset, in order, in batches. */
export function scoreDataset(model: Esmm, ds: Dataset, batchSize = 4096): DatasetScores {
  const sink = scoreSink(model, ds.size);
  const order = identity(ds.size);
  for (let s = 0; s < ds.size; s += batchSize) {
    sink.put(predictFrom(model, ds.take(order, s, Math.min(s + batchSize, ds.size)), s), s); // a row error counts from the data set's first row, as on threads
  }
  return sink.result();
}

/**
 * scoreDataset on T threads (the caller and T - 1 workers; needs a worker implementation such as
 * esmm-ts/node's). The same scores, bit for bit, as on one thread: a row's scores depend on its own
 * ids only (see Esmm.predict), so who scores which rows changes nothing. That frees the split from
 * any barrier: the rows go in chunks to whichever thread is free (each worker keeps two queued, the
 * caller takes the next between its replies), so a thread slowed by a busy vCPU takes fewer chunks
 * instead of holding the others up once per batch.
 */
export async function scoreDatasetParallel(model: Esmm, ds: Dataset, opts: { threads: number; batchSize?: number; workers?: ShardWorkers }): Promise<DatasetScores> {
  const T = opts.threads;
  if (!Number.isInteger(T) || T < 1) throw new Error(`scoreDatasetParallel: threads must be a positive integer, got ${T}`);
  if (T === 1 && !opts.workers) return scoreDataset(model, ds, opts.batchSize);
  const workers = opts.workers ?? (await workerFactory()(model, T - 1));
  try {
    const sink = scoreSink(model, ds.size);
    const scoring = orderedScoring<number>(model, workers, async (sc, at) => sink.put(sc, at));
    // Chunks shrink as the rows run out (a quarter of what is left per thread, 256 to 1024 rows; 1024
    // rows are 5-15 ms of work on the wasm backend, against 0.1-0.2 ms to hand them over), so that no
    // thread is left with a long one at the end. This thread takes half-size chunks: a worker's queue
    // is refilled only between this thread's chunks, and must not run dry in the meantime.
    const most = Math.max(1, Math.min(opts.batchSize ?? 4096, 1024));
    const order = identity(ds.size);
    for (let at = 0; at < ds.size; ) {
      const c = Math.min(most, Math.max(256, Math.ceil((ds.size - at) / (4 * (workers.count + 1)))));
      const end = Math.min(ds.size, at + (scoring.room() ? c : Math.max(1, c >> 1)));
      await scoring.push(ds.take(order, at, end), at);
      if (!scoring.room()) await scoring.poll(); // the workers' replies are taken (and their queues refilled) here
      at = end;
    }
    await scoring.finish();
    return sink.result();
  } finally {
    if (!opts.workers) await workers.close();
  }
}

/** evaluate() on T threads: the same metrics, from the same scores. */
export async function evaluateParallel(model: Esmm, ds: Dataset, opts: { threads: number; batchSize?: number; workers?: ShardWorkers }): Promise<EsmmMetrics> {
  return metricsOf(ds, await scoreDatasetParallel(model, ds, opts));
}

/** ESMM's metrics of a model on a dataset (with GAUC and ground-truth AUCs when the data has them). */
export function evaluate(model: Esmm, ds: Dataset, batchSize = 4096): EsmmMetrics {
  return metricsOf(ds, scoreDataset(model, ds, batchSize));
}

/** Mean gate weight of each task on each expert over a dataset: [task][expert]. esmm-mmoe only. */
export function gateUsage(model: Esmm, ds: Dataset, batchSize = 4096): { ctr: number[]; cvr: number[] } | null {
  return meanGates(model, scoreDataset(model, ds, batchSize), ds.size);
}

/** evaluate and gateUsage from one pass of scoring (the demo reports both for its test set). */
export function evaluateWithGates(model: Esmm, ds: Dataset, batchSize = 4096): { metrics: EsmmMetrics; gates: { ctr: number[]; cvr: number[] } | null } {
  return metricsAndGates(model, ds, scoreDataset(model, ds, batchSize));
}

/** A dataset's metrics and mean gate weights from its scores (evaluateWithGates' last step, and each epoch's validation's). */
function metricsAndGates(model: Esmm, ds: Dataset, s: DatasetScores): { metrics: EsmmMetrics; gates: { ctr: number[]; cvr: number[] } | null } {
  return { metrics: metricsOf(ds, s), gates: meanGates(model, s, ds.size) };
}

/**
 * ESMM's metrics of a dataset from scores already computed for its rows, in row order, in parts (a
 * batch's each, as a file was scored while it was read): what evaluate returns for the same scores.
 */
export function evaluateScores(model: Esmm, ds: EvalLabels, parts: readonly Scores[]): EsmmMetrics {
  const rows = parts.reduce((n, sc) => n + sc.pCtr.length, 0);
  if (rows !== ds.size) throw new Error(`evaluateScores: scores for ${rows} rows, the dataset has ${ds.size}`);
  const sink = scoreSink(model, ds.size);
  let at = 0;
  for (const sc of parts) {
    sink.put(sc, at);
    at += sc.pCtr.length;
  }
  return metricsOf(ds, sink.result());
}

/** What the metrics read of a data set: its labels, users and ground truth (a Dataset has them; a reader may keep only these). */
export type EvalLabels = Pick<Dataset, "size" | "click" | "conversion" | "user" | "truePctr" | "truePcvr">;

/** A dataset's metrics from its scores (evaluate's and evaluateParallel's last step). */
function metricsOf(ds: EvalLabels, s: DatasetScores): EsmmMetrics {
  return esmmMetrics({ ...s, click: ds.click, conversion: ds.conversion, user: ds.user, truePctr: ds.truePctr, truePcvr: ds.truePcvr });
}

function meanGates(model: Esmm, s: DatasetScores, rows: number): { ctr: number[]; cvr: number[] } | null {
  if (!s.gates) return null;
  const E = model.config.experts.count;
  const avg = (g: Float32Array): number[] => {
    const out = new Array<number>(E).fill(0);
    for (let i = 0; i < g.length; i++) out[i % E]! += g[i]!;
    return out.map((v) => v / Math.max(rows, 1));
  };
  return { ctr: avg(s.gates.ctr), cvr: avg(s.gates.cvr) };
}
