/** `esmm train`: fit a model to a file and keep a checkpoint directory of it after every epoch (resume, early stopping, threads). Returns normally on success and throws on failure (see main.ts). */
import { Adam, Esmm, InputRowError, VALIDATION, simulatorOptionsFromJSON, train, type BatchSource, type Dataset, type LossWeights, type SimulatorOptions } from "../../index.js";
import {
  assertCheckpointWritable,
  byDataRow,
  lockForWriting,
  emptyStats,
  fitAndLoad,
  fitPreprocessor,
  loadCheckpoint,
  loadDataset,
  saveCheckpoint,
  simulatedSourceOf,
  streamingSource,
  type Format,
} from "../../node/index.js";
import { readFile } from "node:fs/promises";
import { labelCounts } from "../../esmm/batch.js";
import { UsageError, int, need, needPath, num, str, withConfigFile, type Parsed } from "../args.js";
import { metricsTable, progressLine } from "../format.js";
import { csvOptionsFrom, dataOptions, towersOf, delimiterOf, dimOf, earlyStopOf, sizesOf, expertOptionsOf, fmt, formatOf, inertOptions, lossWeightsOf, modelChoice, modelOptions, openFor, openLike, reportStats, reportUnseen, threadsOf, trainingOptions, heldOutWarning } from "../shared.js";
import type { Command, Io } from "../io.js";
import { UnseenCounts } from "../../index.js";

/**
 * Options a resumed run takes from the checkpoint it continues: giving one that differs is an
 * error, since the run would no longer be the run it continues. `lr` may change (recorded).
 */
const FIXED_ON_RESUME: Array<{ flag: string; key: string; parse: (p: Parsed) => unknown; fallback?: unknown }> = [
  { flag: "seed", key: "seed", parse: (p) => int(p, "seed", 1) },
  { flag: "batch", key: "batch", parse: (p) => int(p, "batch", 1024, 1) },
  { flag: "weight-decay", key: "weightDecay", parse: (p) => num(p, "weight-decay", 0, (x) => x >= 0, ">= 0"), fallback: 0 },
  { flag: "clip-norm", key: "maxGradNorm", parse: (p) => num(p, "clip-norm", 0, (x) => x > 0, "> 0") },
  { flag: "format", key: "format", parse: (p) => formatOf(p), fallback: "csv" },
  { flag: "stream", key: "stream", parse: (p) => p.stream === true, fallback: false },
  { flag: "min-count", key: "minCount", parse: (p) => int(p, "min-count", 1, 1), fallback: 1 },
  { flag: "hash-buckets", key: "hashBuckets", parse: (p) => int(p, "hash-buckets", 0, 1) },
];

async function trainCommand(pIn: Parsed, io: Io): Promise<void> {
  const configPath = str(pIn, "config");
  let p = pIn;
  if (configPath) {
    let text: string;
    try {
      text = await readFile(configPath, "utf8");
    } catch (e) {
      throw new Error(`${configPath}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    p = withConfigFile(pIn, command.options, configPath, text);
  }
  const trainPath = need(p, "train");
  const dir = needPath(p, "model", "a checkpoint is a directory written to disk");
  // one writer at a time: a second run into the same directory would save over this one's epochs
  const release = await lockForWriting(dir);
  try {
    await trainInto(p, io, trainPath, dir);
  } finally {
    await release();
  }
}

/** The run itself, its checkpoint directory locked for it. */
async function trainInto(p: Parsed, io: Io, trainPath: string, dir: string): Promise<void> {
  const epochs = int(p, "epochs", 2, 1);
  const es = earlyStopOf(p);
  const threads = threadsOf(p); // checked before any data is read
  if (es && !str(p, "valid")) throw new UsageError("--early-stop needs --valid");
  const lr = num(p, "lr", 1e-3, (x) => x > 0, "> 0");

  let model: Esmm;
  let optimizer: Adam;
  let startEpoch = 0;
  let resumedDelimiter: string | undefined;
  let pre;
  let loaded: Dataset | undefined; // a new run's training rows, read as its vocabularies were fitted
  const history: unknown[] = [];
  const changes: unknown[] = [];
  // What the run is: from the flags for a new run, from the checkpoint for a resumed one.
  // `simulated`: the world a generated training file was drawn from (its sidecar says), for esmm abtest
  let run: { format: Format; seed: number; batch: number; lr: number; weightDecay: number; maxGradNorm?: number; stream: boolean; minCount: number; hashBuckets?: number; lossWeights?: LossWeights; simulated?: Required<SimulatorOptions> };
  if (p.resume) {
    const ck = await loadCheckpoint(dir);
    if (!ck.preprocessor) throw new Error(`${dir}: checkpoint has no preprocessing; cannot resume`);
    if (!ck.optimizerState) throw new Error(`${dir}: checkpoint has no optimizer.safetensors; cannot resume exactly`);
    const tr = ck.json.training ?? {};
    startEpoch = Number(tr.epochsDone ?? 0);
    if (typeof tr.delimiter === "string") resumedDelimiter = tr.delimiter;
    for (const f of FIXED_ON_RESUME) {
      if (p[f.flag] === undefined) continue;
      const given = f.parse(p);
      const saved = tr[f.key] ?? f.fallback;
      if (given !== saved) {
        throw new UsageError(`--${f.flag} ${String(given)} contradicts the checkpoint, which was trained with ${f.flag} ${saved === undefined ? "unset" : String(saved)}; a resumed run keeps the options of the run it continues (leave the option out, or train a new --model)`);
      }
    }
    const want = modelChoice(p, ck.model.config);
    for (const k of ["bottom", "objective"] as const) {
      if (want[k] !== ck.model.config[k]) throw new UsageError(`--${k} ${want[k]} (from the options given) contradicts the checkpoint's ${ck.model.config[k]} (${ck.model.name})`);
    }
    if (JSON.stringify(want.counterfactual) !== JSON.stringify(ck.model.config.counterfactual)) throw new UsageError("--ips-clip / --ips-normalize contradict the checkpoint's counterfactual settings");
    if (JSON.stringify(want.embeddingInit) !== JSON.stringify(ck.model.config.embeddingInit)) throw new UsageError(`--emb-init contradicts the checkpoint's ${ck.model.config.embeddingInit.kind}:${ck.model.config.embeddingInit.std}`);
    if (str(p, "dim") && dimOf(p) !== ck.model.config.dim) throw new UsageError(`--dim ${str(p, "dim")} contradicts the checkpoint's ${ck.model.config.dim}`);
    const savedNum = (k: string, fallback: number): number => (typeof tr[k] === "number" ? (tr[k] as number) : fallback);
    run = {
      format: (tr.format as Format | undefined) ?? "csv",
      seed: savedNum("seed", ck.model.config.seed),
      batch: savedNum("batch", 1024),
      lr: savedNum("lr", 1e-3),
      weightDecay: savedNum("weightDecay", 0),
      stream: tr.stream === true,
      minCount: savedNum("minCount", 1),
      ...(typeof tr.maxGradNorm === "number" ? { maxGradNorm: tr.maxGradNorm } : {}),
      ...(typeof tr.hashBuckets === "number" ? { hashBuckets: tr.hashBuckets } : {}),
      ...(tr.lossWeights && typeof tr.lossWeights === "object" ? { lossWeights: tr.lossWeights as LossWeights } : {}),
      ...(tr.simulated !== undefined ? { simulated: simulatorOptionsFromJSON(tr.simulated, `${dir}: training.simulated`) } : {}),
    };
    const lw = lossWeightsOf(p);
    const savedLw = run.lossWeights ?? {};
    // ctr,cvr, then the ESCM2 terms' weights only where one is not 1
    const show = (w: Record<string, number | undefined>): string => {
      const v = ["ctr", "cvr", "counterfactual", "imputation"].map((k) => w[k] ?? 1);
      while (v.length > 2 && v[v.length - 1] === 1) v.pop();
      return v.join(",");
    };
    if (lw && show(lw) !== show(savedLw)) throw new UsageError(`--loss-weights ${show(lw)} contradicts the checkpoint's ${show(savedLw)}`);
    const c = ck.model.config;
    const same = (a: number[] | undefined, b: number[]): boolean => a === undefined || (a.length === b.length && a.every((x, i) => x === b[i]));
    const eo = expertOptionsOf(p) ?? {};
    if (eo.count !== undefined && eo.count !== c.experts.count) throw new UsageError(`--experts ${eo.count} contradicts the checkpoint's ${c.experts.count}`);
    if (eo.share !== undefined && eo.share !== c.experts.share) throw new UsageError(`--expert-share ${eo.share} contradicts the checkpoint's ${c.experts.share}`);
    if (eo.gatePrior !== undefined && eo.gatePrior !== c.experts.gatePrior) throw new UsageError(`--gate-prior ${eo.gatePrior} contradicts the checkpoint's ${c.experts.gatePrior}`);
    if (eo.dropout !== undefined && eo.dropout !== c.experts.dropout) throw new UsageError(`--expert-dropout ${eo.dropout} contradicts the checkpoint's ${c.experts.dropout}`);
    if (!same(sizesOf(p, "expert-hidden"), c.experts.hidden)) throw new UsageError(`--expert-hidden contradicts the checkpoint's ${c.experts.hidden.join(",")}`);
    if (!same(sizesOf(p, "tower-hidden"), c.towers.hidden)) throw new UsageError(`--tower-hidden contradicts the checkpoint's ${c.towers.hidden.join(",")}`);
    if (!same(sizesOf(p, "cvr-tower-hidden"), c.towers.cvr)) throw new UsageError(`--cvr-tower-hidden contradicts the checkpoint's ${c.towers.cvr.join(",")}`);
    changes.push(...((tr.changes as unknown[] | undefined) ?? []));
    if (str(p, "lr") !== undefined && lr !== run.lr) {
      changes.push({ atEpoch: startEpoch, option: "lr", from: run.lr, to: lr });
      io.err(`changing the learning rate from ${run.lr} to ${lr} (recorded in model.json)`);
      run.lr = lr;
    }
    model = ck.model;
    pre = ck.preprocessor;
    optimizer = new Adam(model.namedParameters(), { lr: run.lr, weightDecay: run.weightDecay, ...(run.maxGradNorm !== undefined ? { maxGradNorm: run.maxGradNorm } : {}) });
    optimizer.loadStateDict(ck.optimizerState);
    history.push(...((tr.history as unknown[]) ?? []));
    io.err(`resuming ${dir} (${model.name}) after epoch ${startEpoch} of ${epochs}`);
  } else {
    const choice = modelChoice(p);
    run = {
      format: formatOf(p),
      seed: int(p, "seed", 1),
      batch: int(p, "batch", 1024, 1),
      lr,
      weightDecay: num(p, "weight-decay", 0, (x) => x >= 0, ">= 0"),
      stream: p.stream === true,
      minCount: int(p, "min-count", 1, 1),
      ...(str(p, "clip-norm") ? { maxGradNorm: num(p, "clip-norm", 0, (x) => x > 0, "> 0") } : {}),
      ...(str(p, "hash-buckets") ? { hashBuckets: int(p, "hash-buckets", 0, 1) } : {}),
      ...(lossWeightsOf(p) ? { lossWeights: lossWeightsOf(p)! } : {}),
    };
    const source = simulatedSourceOf(trainPath, str(p, "schema"));
    if (source) run.simulated = source.world;
    const expertHidden = sizesOf(p, "expert-hidden");
    const towers = towersOf(p);
    if (expertHidden && expertHidden.length === 0) throw new UsageError("--expert-hidden needs at least one size");
    // Refuse a --model that is not ours before any work, not after the first epoch.
    await assertCheckpointWritable(dir);
    const src0 = await openFor(p, trainPath, run.format, csvOptionsFrom(p));
    const s0 = emptyStats();
    const fitOpts = { minCount: run.minCount, warn: io.err, ...(run.hashBuckets !== undefined ? { hashBuckets: run.hashBuckets } : {}) };
    // In memory, one pass fits the vocabularies and keeps the rows; a streamed file is read again each epoch.
    if (run.stream) pre = await fitPreprocessor(src0, fitOpts, s0);
    else ({ pre, data: loaded } = await fitAndLoad(src0, fitOpts, s0));
    reportStats(trainPath, s0, io.err);
    model = new Esmm({
      ...choice,
      fields: pre.fieldSpecs(),
      dense: pre.schema.dense,
      denseMean: pre.denseMean,
      denseStd: pre.denseStd,
      dim: dimOf(p),
      seed: run.seed,
      experts: { ...expertOptionsOf(p), ...(expertHidden ? { hidden: expertHidden } : {}) },
      ...(towers ? { towers } : {}),
    });
    optimizer = new Adam(model.namedParameters(), { lr: run.lr, weightDecay: run.weightDecay, ...(run.maxGradNorm !== undefined ? { maxGradNorm: run.maxGradNorm } : {}) });
  }
  const { format, seed, batch } = run;
  const delimiter = delimiterOf(p) ?? (p.resume ? resumedDelimiter : undefined);
  let data: Dataset | BatchSource | undefined = loaded;
  if (!data) {
    const src = await openLike(p, trainPath, format, pre, false, delimiter);
    const stats = emptyStats();
    data = run.stream ? streamingSource(src, pre, batch, { seed }) : await loadDataset(src, pre, stats);
    reportStats(trainPath, stats, io.err);
  }
  // a file with no clicks or no conversions trains a tower on one label only: most often the wrong column
  if ("click" in data) {
    if (p.resume) {
      // a resumed run reads its file through the checkpoint's vocabularies: another file's ids would all be one row
      reportUnseen(trainPath, UnseenCounts.of(pre, data), io.err);
    }
    const { clicks, conversions } = labelCounts(data.click, data.conversion);
    const n = data.size.toLocaleString("en-US");
    if (clicks === 0) io.err(`warning: ${trainPath} holds no clicks in ${n} rows: both towers can only learn that nothing is clicked (is --click the right column?)`);
    else if (conversions === 0) io.err(`warning: ${trainPath} holds no conversions in ${n} rows (${clicks.toLocaleString("en-US")} clicks): the CVR tower can only learn that nothing converts (is --conversion the right column?)`);
  }
  let valid: Dataset | undefined;
  const validPath = str(p, "valid");
  if (validPath) {
    const self = await heldOutWarning("--valid", trainPath, validPath, str(p, "schema"));
    if (self) io.err(`warning: ${self}`);
    const vs = await openLike(p, validPath, format, pre, false, delimiter);
    const vstats = emptyStats();
    valid = await loadDataset(vs, pre, vstats);
    reportStats(validPath, vstats, io.err);
    reportUnseen(validPath, UnseenCounts.of(pre, valid), io.err);
  }
  io.err(`${model.name}: ${model.parameterCount().toLocaleString("en-US")} parameters, ${model.config.fields.length} fields, D = ${model.config.dim}`);
  for (const w of inertOptions(p, [model.config], format)) io.err(`warning: ${w}`);

  // One train() call over the remaining epochs: it owns shuffling, validation and early stopping
  // (restoring the best weights); each epoch's checkpoint is written from onEpoch.
  let lastLog = performance.now();
  let endedEpoch = -1;
  const progressSeconds = num(p, "progress-seconds", 10, (x) => x > 0, "> 0");
  // the second loss term is the CTCVR loss, or the clicked-only CVR loss of the clicked objective
  const secondLabel = model.config.objective === "clicked" ? "cvr(clicked)" : "ctcvr";
  // the thread count is recorded, not fixed: a resumed run may use another (its bits then differ)
  const trainingMeta = (epochsDone: number): Record<string, unknown> => ({ ...run, ...(delimiter ? { delimiter } : {}), threads, epochsDone, history, ...(changes.length ? { changes } : {}) });
  if (threads > 1) io.err(`training on ${threads} threads (data-parallel: a seed gives the same result for the same thread count)`);
  const result = await train(model, data, {
    threads,
    ...(run.lossWeights ? { lossWeights: run.lossWeights } : {}),
    epochs: epochs - startEpoch,
    startEpoch,
    batchSize: batch,
    seed,
    optimizer,
    ...(valid ? { valid } : {}),
    ...(es ? { earlyStopping: { metric: es, patience: int(p, "patience", 1, 1) } } : {}),
    // a terminal gets a live line; a log one line every --progress-seconds (by the clock, not by steps)
    progressEvery: io.isTTY ? 5 : 1,
    onProgress: (ev) => {
      const line = progressLine({ ...ev, epochs, secondLabel });
      if (io.isTTY && io.status) io.status(line);
      else {
        const now = performance.now();
        // the epoch's last line once (train() reports the last step, then the epoch's end)
        const endOfEpoch = ev.epochRows !== null && ev.rows >= ev.epochRows && endedEpoch !== ev.epoch;
        if (now - lastLog >= progressSeconds * 1000 || endOfEpoch) {
          io.err(line);
          lastLog = now;
          if (endOfEpoch) endedEpoch = ev.epoch;
        }
      }
    },
    onEpoch: async (rec) => {
      if (io.isTTY && io.status) io.status("");
      const entry: Record<string, unknown> = { epoch: rec.epoch, loss: rec.loss, ctrLoss: rec.ctrLoss, cvrLoss: rec.cvrLoss, rows: rec.rows, seconds: rec.seconds };
      if (rec.valid) {
        entry.valid = rec.valid;
        io.err(`epoch ${rec.epoch + 1}/${epochs} valid: CTR AUC ${fmt(rec.valid.ctrAuc)}, CVR AUC ${fmt(rec.valid.cvrAuc)}, CTCVR AUC ${fmt(rec.valid.ctcvrAuc)}`);
      }
      history.push(entry);
      const gates = rec.validGates ? { gateUsage: rec.validGates } : {};
      await saveCheckpoint(dir, model, { preprocessor: pre, optimizer, training: { ...trainingMeta(rec.epoch + 1), ...gates } });
    },
  }).catch((e: unknown) => {
    // a validation row the network cannot take, by its data row in --valid (as esmm predict names it)
    throw e instanceof InputRowError && e.where === VALIDATION ? byDataRow(e, validPath!) : e;
  });
  const epochsDone = startEpoch + result.history.length;
  if (es) {
    if (epochsDone < epochs) io.err(`early stop: ${es} has not improved since epoch ${result.bestEpoch + 1}`);
    // the model now holds the best epoch's weights: save them over the last epoch's checkpoint
    await saveCheckpoint(dir, model, { preprocessor: pre, optimizer, training: { ...trainingMeta(epochsDone), bestEpoch: result.bestEpoch, earlyStop: es } });
    io.err(`restored the best epoch (${result.bestEpoch + 1}) by ${es}`);
  }
  // the model holds the best epoch's weights (the last epoch's without early stopping), which that
  // epoch's validation already scored: its metrics, not a second pass over the validation set
  const finalMetrics = result.history.find((h) => h.epoch === result.bestEpoch)?.valid ?? null;
  if (p.json) {
    io.out(JSON.stringify({ model: dir, variant: model.name, bottom: model.config.bottom, objective: model.config.objective, epochsDone, bestEpoch: result.bestEpoch, validation: finalMetrics, history: result.history.map((h) => ({ epoch: h.epoch, loss: h.loss, ctrLoss: h.ctrLoss, ctcvrLoss: h.cvrLoss, rows: h.rows, seconds: h.seconds })) }, null, 2));
    return;
  }
  if (finalMetrics) io.out(metricsTable([{ name: model.name, metrics: finalMetrics }]));
  io.out(`saved ${dir}`);
}

export const command: Command = {
  name: "train",
  summary: "fit a model (a preset such as esmm-mmoe, esmm, base, escm2-dr, or a bottom and an objective) and save a checkpoint directory",
  usage: "esmm train --train FILE --model DIR [--valid FILE] [--preset NAME | --bottom B --objective O] [options]",
  options: {
      train: { type: "string", help: "training data, a file in --format (gzipped or not) (required)" },
      valid: { type: "string", help: "validation data, evaluated after every epoch" },
      model: { type: "string", help: "checkpoint directory to write (required)" },
      ...modelOptions(),
      ...trainingOptions(),
      "weight-decay": { type: "string", help: "AdamW decoupled weight decay (default 0)" },
      "clip-norm": { type: "string", help: "clip the global gradient norm to this value" },
      dim: { type: "string", help: "embedding width D (default 16)" },
      "min-count": { type: "string", help: "keep ids seen at least this often in training, else out-of-vocabulary (default 1)" },
      "hash-buckets": { type: "string", help: "hash every id into this many buckets instead of building vocabularies" },
      seed: { type: "string", help: "seed of the initialisation and the shuffling (default 1)" },
      resume: { type: "flag", help: "continue the checkpoint in --model (weights, optimizer, vocabularies) up to --epochs" },
      stream: { type: "flag", help: "stream the training file each epoch (larger than memory) with a shuffle buffer" },
      "early-stop": { type: "string", help: "validation metric to stop on: ctrAuc, cvrAuc, ctcvrAuc, ctrLogLoss, ..." },
      patience: { type: "string", help: "epochs without improvement before stopping (default 1)" },
      threads: { type: "string", help: "threads of data-parallel training: N or auto (the machine's cores); default 1" },
      json: { type: "flag", help: "print the final validation metrics (and the checkpoint) as one JSON object on standard output" },
      "progress-seconds": { type: "string", help: "when standard error is not a terminal, a progress line every this many seconds (default 10)" },
      config: { type: "string", help: "a JSON file of these options (the same keys, without --); flags given here override it" },
      ...dataOptions(),
    },
  run: trainCommand,
};
