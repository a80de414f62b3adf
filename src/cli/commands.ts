/** The `esmm` subcommands. Each returns normally on success and throws on failure (see main.ts). */
import {
  Adam,
  AppStoreSimulator,
  BACKENDS,
  DENSE_FEATURES,
  Esmm,
  MULTI_FIELDS,
  SINGLE_FIELDS,
  VARIANTS,
  csvCell,
  evaluate,
  evaluateParallel,
  predictParallel,
  workerFactory,
  firstNonFinite,
  gateUsage,
  train,
  type CsvOptions,
  type Dataset,
  type MetricName,
  type Schema,
  type Variant,
} from "../index.js";
import { availableParallelism } from "node:os";
import { BatchBuilder, type Preprocessor } from "../data/index.js";
import {
  FORMATS,
  assertCheckpointWritable,
  checkSchema,
  emptyStats,
  fitPreprocessor,
  loadCheckpoint,
  loadDataset,
  openAtomicWriter,
  DEFAULT_MAX_LINE,
  openSource,
  saveCheckpoint,
  streamingSource,
  writeFileAtomic,
  type Format,
  type ReadStats,
  type RowSource,
} from "../node/index.js";
import { readFile } from "node:fs/promises";
import { UsageError, int, list, need, num, str, withConfigFile, type OptionSpec, type Parsed } from "./args.js";
import { metricsTable, progressLine } from "./format.js";
import { simulatorRateOptions, simulatorRates } from "./sim-options.js";

export const SPECS: Record<string, { usage: string; options: Record<string, OptionSpec> }> = {
  generate: {
    usage: "esmm generate --rows N --out FILE [--seed S] [--stream K] [--ctr R --cvr R --bias B --users N --apps N]",
    options: {
      rows: { type: "string", help: "number of impressions (required)" },
      out: { type: "string", help: "CSV file to write (required); a <out>.schema.json sidecar is written beside it" },
      seed: { type: "string", help: "world seed (default 7): the same seed gives the same users and apps" },
      stream: { type: "string", help: "impression stream of that world (default 0; use 1, 2 for validation, test)" },
      ...simulatorRateOptions(),
      users: { type: "string", help: "number of users (default 20000)" },
      apps: { type: "string", help: "number of apps (default 4000)" },
    },
  },
  train: {
    usage: "esmm train --train FILE --model DIR [--valid FILE] [--variant esmm-mmoe|esmm|base] [options]",
    options: {
      train: { type: "string", help: "training data (required)" },
      valid: { type: "string", help: "validation data, evaluated after every epoch" },
      model: { type: "string", help: "checkpoint directory to write (required)" },
      variant: { type: "string", help: `model variant: ${VARIANTS.join(", ")} (default esmm-mmoe)` },
      epochs: { type: "string", help: "total epochs (default 2)" },
      batch: { type: "string", help: "batch size (default 1024)" },
      lr: { type: "string", help: "Adam learning rate (default 0.001)" },
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
      experts: { type: "string", help: "esmm-mmoe: number of experts (default 2)" },
      "expert-hidden": { type: "string", help: "hidden sizes of each expert (esmm/base: of each task's MLP before its tower), comma-separated (default 256,128)" },
      "tower-hidden": { type: "string", help: "hidden sizes of each task's tower, comma-separated (default 64; empty for none)" },
      "loss-weights": { type: "string", help: "weights of the CTR and the CTCVR (base: clicked-only CVR) loss terms, as ctr,cvr (default 1,1)" },
      ...dataOptions(),
    },
  },
  eval: {
    usage: "esmm eval --model DIR --data FILE [--json]",
    options: {
      model: { type: "string", help: "checkpoint directory (required)" },
      data: { type: "string", help: "labelled data (required)" },
      json: { type: "flag", help: "print the metrics as JSON" },
      threads: { type: "string", help: "threads that score the rows: N or auto (default 1; the same scores on any count)" },
      ...dataOptions(),
    },
  },
  predict: {
    usage: "esmm predict --model DIR --data FILE --out FILE|- [--gates] [--keep COLS]",
    options: {
      model: { type: "string", help: "checkpoint directory (required)" },
      data: { type: "string", help: "rows to score; label columns are optional (required)" },
      out: { type: "string", help: "CSV of pctr,pcvr,pctcvr in row order, or - for standard output (required)" },
      keep: { type: "string", help: "comma-separated input columns to copy into the output first (keys to join the scores back on)" },
      gates: { type: "flag", help: "also write each task's gate weights (esmm-mmoe)" },
      threads: { type: "string", help: "threads that score the rows: N or auto (default 1; the same scores on any count)" },
      ...dataOptions(),
    },
  },
  inspect: {
    usage: "esmm inspect --model DIR [--data FILE] [--json]",
    options: {
      model: { type: "string", help: "checkpoint directory (required)" },
      json: { type: "flag", help: "print config, parameter counts, training record and gate usage as one JSON object" },
      data: { type: "string", help: "measure gate usage on this file (default: the usage saved at training)" },
      ...dataOptions(),
    },
  },
};

/** --backend, which every command that computes takes (ESMM_BACKEND sets the same). */
export function backendOption(): Record<string, OptionSpec> {
  return { backend: { type: "string", help: `kernels: ${BACKENDS.join(", ")} (default wasm where WebAssembly SIMD runs, else ts; env ESMM_BACKEND)` } };
}

/** --threads N | auto. */
export function threadsOf(p: Parsed): number {
  const t = str(p, "threads");
  if (t === undefined) return 1;
  if (t === "auto") return availableParallelism();
  return int(p, "threads", 1, 1);
}

function dataOptions(): Record<string, OptionSpec> {
  return {
    ...backendOption(),
    format: { type: "string", help: `data format: ${FORMATS.join(", ")} (default csv, or the model's)` },
    common: { type: "string", help: "aliccp-raw: the common_features file" },
    click: { type: "string", help: "csv: click label column (default click)" },
    conversion: { type: "string", help: "csv: conversion label column (default conversion)" },
    categorical: { type: "string", help: "csv: comma-separated categorical columns (default: all the others)" },
    multi: { type: "string", help: "csv: comma-separated multi-valued columns (ids split by --multi-sep, optional id:weight)" },
    "multi-sep": { type: "string", help: "csv: separator between the ids of a multi-valued cell (default |)" },
    dense: { type: "string", help: "csv: comma-separated dense numeric columns" },
    ignore: { type: "string", help: "csv: comma-separated columns to ignore" },
    user: { type: "string", help: "csv: user column for GAUC (default user_id when present)" },
    delimiter: { type: "string", help: "csv: field delimiter (default ,)" },
    "max-line": { type: "string", help: `longest line accepted, in characters (default ${DEFAULT_MAX_LINE}); a longer one stops with its file and line` },
    "skip-bad": { type: "flag", help: "skip bad lines and count them instead of stopping at the first" },
  };
}

function csvOptionsFrom(p: Parsed): CsvOptions {
  const o: CsvOptions = {};
  const c = str(p, "click");
  if (c) o.click = c;
  const v = str(p, "conversion");
  if (v) o.conversion = v;
  const cat = list(p, "categorical");
  if (cat) o.categorical = cat;
  const multi = list(p, "multi");
  const sep = str(p, "multi-sep");
  if (sep === "") throw new UsageError("--multi-sep must not be empty");
  if (multi) o.multi = multi.map((name) => (sep ? { name, sep } : { name }));
  const dense = list(p, "dense");
  if (dense) o.dense = dense;
  const ignore = list(p, "ignore");
  if (ignore) o.ignore = ignore;
  const user = str(p, "user");
  if (user !== undefined) o.user = user === "" ? null : user;
  const d = str(p, "delimiter");
  if (d) o.delimiter = d;
  return o;
}

/** CSV options that reproduce a trained model's schema on a new file. */
function csvOptionsOf(schema: Schema, noLabels = false): CsvOptions {
  return {
    click: schema.click,
    conversion: schema.conversion,
    categorical: schema.categorical,
    multi: schema.multi,
    dense: schema.dense,
    user: schema.user,
    noLabels,
  };
}

function formatOf(p: Parsed, fallback: Format = "csv"): Format {
  const f = str(p, "format") ?? fallback;
  if (!FORMATS.includes(f as Format)) throw new UsageError(`--format must be one of ${FORMATS.join(", ")}, got "${f}"`);
  return f as Format;
}

function reportStats(what: string, s: ReadStats, log: (s: string) => void): void {
  if (s.bad > 0) log(`${what}: skipped ${s.bad} bad line(s); first: ${s.badExamples.join(" | ")}`);
  if (s.dropped > 0) log(`${what}: dropped ${s.dropped} row(s) with a conversion but no click (as the paper does)`);
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
}

export async function generate(p: Parsed, io: Io): Promise<void> {
  const rows = int(p, "rows", -1, 1);
  if (rows < 0) throw new UsageError("--rows is required");
  const out = need(p, "out");
  const sim = new AppStoreSimulator({
    seed: int(p, "seed", 7),
    ...simulatorRates(p),
    users: int(p, "users", 20_000, 1),
    apps: int(p, "apps", 4_000, 1),
  });
  const w = await openAtomicWriter(out);
  try {
    await w.write(["click", "conversion", "true_pctr", "true_pcvr", ...SINGLE_FIELDS, ...MULTI_FIELDS, ...DENSE_FEATURES].join(",") + "\n");
    let clicks = 0;
    let conv = 0;
    for (const r of sim.rows(rows, int(p, "stream", 0))) {
      clicks += r.click;
      conv += r.conversion;
      const bag = Array.from(r.recentCats.ids, (id, j) => `${id}:${r.recentCats.weights[j]}`).join("|");
      await w.write(`${r.click},${r.conversion},${r.truePctr.toPrecision(6)},${r.truePcvr.toPrecision(6)},${Array.from(r.ids).join(",")},${csvCell(bag)},${r.dense[0]!.toPrecision(6)},${r.dense[1]}\n`);
    }
    await w.close();
    const schema: CsvOptions = { multi: MULTI_FIELDS.map((name) => ({ name, pooling: "sum" })), dense: [...DENSE_FEATURES], user: "user_id" };
    await writeFileAtomic(`${out}.schema.json`, JSON.stringify(schema, null, 2) + "\n");
    io.out(`wrote ${rows} impressions to ${out}: CTR ${(clicks / rows).toFixed(4)}, CVR after click ${(conv / Math.max(clicks, 1)).toFixed(4)}, CTCVR ${(conv / rows).toFixed(5)}`);
  } catch (e) {
    await w.abort();
    throw e;
  }
}

/** Opens a file to be read exactly as a model's preprocessing expects (same columns and meanings). */
async function openLike(p: Parsed, path: string, format: Format, pre: Preprocessor, noLabels = false, delimiter?: string, keep?: string[]): Promise<RowSource> {
  // the file's delimiter: --delimiter, else the one the model was trained on, else ","
  const d = str(p, "delimiter") ?? delimiter;
  if (keep && format === "aliccp-raw") throw new UsageError("--keep needs a CSV format; aliccp-raw rows have no columns to keep");
  const csv: CsvOptions = format === "aliccp-raw" ? {} : { ...csvOptionsOf(pre.schema, noLabels), ...(d ? { delimiter: d } : {}), ...(keep ? { keep } : {}) };
  const src = await openFor(p, path, format, csv);
  checkSchema(src, pre, path);
  return src;
}

async function openFor(p: Parsed, path: string, format: Format, csv: CsvOptions): Promise<RowSource> {
  const spec = { format, path, csv, skipBad: p["skip-bad"] === true, maxLine: int(p, "max-line", DEFAULT_MAX_LINE, 1) } as Parameters<typeof openSource>[0];
  const common = str(p, "common");
  if (common) spec.common = common;
  return openSource(spec);
}

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

/** A comma list of positive integers (layer sizes); "" for none. */
function sizes(p: Parsed, key: string): number[] | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  if (v.trim() === "") return [];
  return v.split(",").map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${key} must be comma-separated positive integers, got "${v}"`);
    return n;
  });
}

function lossWeightsOf(p: Parsed): { ctr: number; cvr: number } | undefined {
  const v = str(p, "loss-weights");
  if (v === undefined) return undefined;
  const w = v.split(",").map((x) => Number(x.trim()));
  if (w.length !== 2 || w.some((x) => !Number.isFinite(x) || x < 0)) throw new UsageError(`--loss-weights must be two finite numbers >= 0 as ctr,cvr, got "${v}"`);
  return { ctr: w[0]!, cvr: w[1]! };
}

export async function trainCommand(pIn: Parsed, io: Io): Promise<void> {
  const configPath = str(pIn, "config");
  let p = pIn;
  if (configPath) {
    let text: string;
    try {
      text = await readFile(configPath, "utf8");
    } catch (e) {
      throw new Error(`${configPath}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    p = withConfigFile(pIn, SPECS.train!.options, configPath, text);
  }
  const trainPath = need(p, "train");
  const dir = need(p, "model");
  const epochs = int(p, "epochs", 2, 1);
  const es = str(p, "early-stop") as MetricName | undefined;
  const METRICS: MetricName[] = ["ctrAuc", "cvrAuc", "ctcvrAuc", "ctrLogLoss", "cvrLogLoss", "ctcvrLogLoss"];
  if (es && !METRICS.includes(es)) throw new UsageError(`--early-stop must be one of ${METRICS.join(", ")}`);
  if (es && !str(p, "valid")) throw new UsageError("--early-stop needs --valid");
  const lr = num(p, "lr", 1e-3, (x) => x > 0, "> 0");

  let model: Esmm;
  let optimizer: Adam;
  let startEpoch = 0;
  let resumedDelimiter: string | undefined;
  let pre;
  const history: unknown[] = [];
  const changes: unknown[] = [];
  // What the run is: from the flags for a new run, from the checkpoint for a resumed one.
  let run: { format: Format; seed: number; batch: number; lr: number; weightDecay: number; maxGradNorm?: number; stream: boolean; minCount: number; hashBuckets?: number; lossWeights?: { ctr: number; cvr: number } };
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
    if (str(p, "variant") && str(p, "variant") !== ck.model.variant) throw new UsageError(`--variant ${str(p, "variant")} contradicts the checkpoint's ${ck.model.variant}`);
    if (str(p, "dim") && int(p, "dim", 16, 1) !== ck.model.config.dim) throw new UsageError(`--dim ${str(p, "dim")} contradicts the checkpoint's ${ck.model.config.dim}`);
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
      ...(tr.lossWeights && typeof tr.lossWeights === "object" ? { lossWeights: tr.lossWeights as { ctr: number; cvr: number } } : {}),
    };
    const lw = lossWeightsOf(p);
    const savedLw = run.lossWeights ?? { ctr: 1, cvr: 1 };
    if (lw && (lw.ctr !== savedLw.ctr || lw.cvr !== savedLw.cvr)) throw new UsageError(`--loss-weights ${lw.ctr},${lw.cvr} contradicts the checkpoint's ${savedLw.ctr},${savedLw.cvr}`);
    const c = ck.model.config;
    const same = (a: number[] | undefined, b: number[]): boolean => a === undefined || (a.length === b.length && a.every((x, i) => x === b[i]));
    if (str(p, "experts") !== undefined && int(p, "experts", 2, 1) !== c.experts.count) throw new UsageError(`--experts ${str(p, "experts")} contradicts the checkpoint's ${c.experts.count}`);
    if (!same(sizes(p, "expert-hidden"), c.experts.hidden)) throw new UsageError(`--expert-hidden contradicts the checkpoint's ${c.experts.hidden.join(",")}`);
    if (!same(sizes(p, "tower-hidden"), c.towers.hidden)) throw new UsageError(`--tower-hidden contradicts the checkpoint's ${c.towers.hidden.join(",")}`);
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
    io.err(`resuming ${dir} (${model.variant}) after epoch ${startEpoch} of ${epochs}`);
  } else {
    const variant = (str(p, "variant") ?? "esmm-mmoe") as Variant;
    if (!VARIANTS.includes(variant)) throw new UsageError(`--variant must be one of ${VARIANTS.join(", ")}, got "${variant}"`);
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
    const expertHidden = sizes(p, "expert-hidden");
    const towerHidden = sizes(p, "tower-hidden");
    if (expertHidden && expertHidden.length === 0) throw new UsageError("--expert-hidden needs at least one size");
    // Refuse a --model that is not ours before any work, not after the first epoch.
    await assertCheckpointWritable(dir);
    const src0 = await openFor(p, trainPath, run.format, csvOptionsFrom(p));
    const s0 = emptyStats();
    pre = await fitPreprocessor(src0, { minCount: run.minCount, warn: io.err, ...(run.hashBuckets !== undefined ? { hashBuckets: run.hashBuckets } : {}) }, s0);
    // the loading pass below reads the same lines and reports them; a streamed file has no such pass
    if (run.stream) reportStats(trainPath, s0, io.err);
    model = new Esmm({
      variant,
      fields: pre.fieldSpecs(),
      dense: pre.schema.dense,
      denseMean: pre.denseMean,
      denseStd: pre.denseStd,
      dim: int(p, "dim", 16, 1),
      seed: run.seed,
      experts: { count: int(p, "experts", 2, 1), ...(expertHidden ? { hidden: expertHidden } : {}) },
      ...(towerHidden ? { towers: { hidden: towerHidden } } : {}),
    });
    optimizer = new Adam(model.namedParameters(), { lr: run.lr, weightDecay: run.weightDecay, ...(run.maxGradNorm !== undefined ? { maxGradNorm: run.maxGradNorm } : {}) });
  }
  const { format, seed, batch } = run;
  const delimiter = str(p, "delimiter") ?? (p.resume ? resumedDelimiter : undefined);
  const src = await openLike(p, trainPath, format, pre, false, delimiter);
  const stats = emptyStats();
  const data = run.stream ? streamingSource(src, pre, batch, { seed }) : await loadDataset(src, pre, stats);
  reportStats(trainPath, stats, io.err);
  let valid: Dataset | undefined;
  const validPath = str(p, "valid");
  if (validPath) {
    const vs = await openLike(p, validPath, format, pre, false, delimiter);
    const vstats = emptyStats();
    valid = await loadDataset(vs, pre, vstats);
    reportStats(validPath, vstats, io.err);
  }
  io.err(`${model.variant}: ${model.parameterCount().toLocaleString("en-US")} parameters, ${model.config.fields.length} fields, D = ${model.config.dim}`);

  // One train() call over the remaining epochs: it owns shuffling, validation and early stopping
  // (restoring the best weights); each epoch's checkpoint is written from onEpoch.
  let lastLen = 0;
  let lastLog = performance.now();
  let endedEpoch = -1;
  const progressSeconds = num(p, "progress-seconds", 10, (x) => x > 0, "> 0");
  // the second loss term is the CTCVR loss for the ESMM variants, the clicked-only CVR loss for base
  const secondLabel = model.variant === "base" ? "cvr(clicked)" : "ctcvr";
  const threads = threadsOf(p);
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
      if (io.isTTY) {
        process.stderr.write(`\r${line.padEnd(lastLen)}`);
        lastLen = line.length;
      } else {
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
      if (io.isTTY) process.stderr.write("\n");
      lastLen = 0;
      const entry: Record<string, unknown> = { epoch: rec.epoch, loss: rec.loss, ctrLoss: rec.ctrLoss, cvrLoss: rec.cvrLoss, rows: rec.rows, seconds: rec.seconds };
      if (rec.valid) {
        entry.valid = rec.valid;
        io.err(`epoch ${rec.epoch + 1}/${epochs} valid: CTR AUC ${fmt(rec.valid.ctrAuc)}, CVR AUC ${fmt(rec.valid.cvrAuc)}, CTCVR AUC ${fmt(rec.valid.ctcvrAuc)}`);
      }
      history.push(entry);
      const gates = valid && model.gates ? { gateUsage: gateUsage(model, valid) } : {};
      await saveCheckpoint(dir, model, { preprocessor: pre, optimizer, training: { ...trainingMeta(rec.epoch + 1), ...gates } });
    },
  });
  const epochsDone = startEpoch + result.history.length;
  if (es) {
    if (epochsDone < epochs) io.err(`early stop: ${es} has not improved since epoch ${result.bestEpoch + 1}`);
    // the model now holds the best epoch's weights: save them over the last epoch's checkpoint
    await saveCheckpoint(dir, model, { preprocessor: pre, optimizer, training: { ...trainingMeta(epochsDone), bestEpoch: result.bestEpoch, earlyStop: es } });
    io.err(`restored the best epoch (${result.bestEpoch + 1}) by ${es}`);
  }
  const finalMetrics = valid && result.history.length > 0 ? evaluate(model, valid) : null;
  if (p.json) {
    io.out(JSON.stringify({ model: dir, variant: model.variant, epochsDone, bestEpoch: result.bestEpoch, validation: finalMetrics, history: result.history.map((h) => ({ epoch: h.epoch, loss: h.loss, ctrLoss: h.ctrLoss, ctcvrLoss: h.cvrLoss, rows: h.rows, seconds: h.seconds })) }, null, 2));
    return;
  }
  if (finalMetrics) io.out(metricsTable([{ name: model.variant, metrics: finalMetrics }]));
  io.out(`saved ${dir}`);
}

function fmt(v: number | null): string {
  return v === null ? "n/a" : v.toFixed(4);
}

async function modelAndSource(p: Parsed, path: string, noLabels: boolean, keep?: string[]) {
  const dir = need(p, "model");
  const ck = await loadCheckpoint(dir);
  if (!ck.preprocessor) throw new Error(`${dir}: checkpoint has no preprocessing (vocabularies); it cannot read raw files`);
  const format = formatOf(p, (ck.json.training?.format as Format) ?? "csv");
  const trainedDelimiter = typeof ck.json.training?.delimiter === "string" ? (ck.json.training.delimiter as string) : undefined;
  const src = await openLike(p, path, format, ck.preprocessor, noLabels, trainedDelimiter, keep);
  return { ck, src, pre: ck.preprocessor };
}

export async function evalCommand(p: Parsed, io: Io): Promise<void> {
  const path = need(p, "data");
  const { ck, src, pre } = await modelAndSource(p, path, false);
  const stats = emptyStats();
  const ds = await loadDataset(src, pre, stats);
  reportStats(path, stats, io.err);
  const threads = threadsOf(p);
  const m = threads > 1 ? await evaluateParallel(ck.model, ds, { threads }) : evaluate(ck.model, ds);
  if (p.json) io.out(JSON.stringify({ model: need(p, "model"), variant: ck.model.variant, data: path, metrics: m }, null, 2));
  else io.out(metricsTable([{ name: ck.model.variant, metrics: m }]));
}

export async function predictCommand(p: Parsed, io: Io): Promise<void> {
  const path = need(p, "data");
  const out = need(p, "out");
  const keep = list(p, "keep");
  const format = str(p, "format");
  if (keep && format && format !== "csv" && format !== "aliccp-csv" && format !== "aliexpress") throw new UsageError(`--keep needs a CSV format, not ${format}`);
  const { ck, src, pre } = await modelAndSource(p, path, true, keep);
  const model = ck.model;
  const E = model.gates ? model.config.experts.count : 0;
  const gates = p.gates === true && E > 0;
  if (p.gates && E === 0) throw new UsageError(`--gates: a ${model.variant} model has no gates`);
  const threads = threadsOf(p);
  const workers = threads > 1 ? await workerFactory()(model, threads - 1) : null;
  // "-" writes to standard output (and every message to standard error); else a file, atomically
  const toStdout = out === "-";
  const w = toStdout ? { write: async (s: string) => io.out(s.endsWith("\n") ? s.slice(0, -1) : s), close: async () => undefined, abort: async () => undefined } : await openAtomicWriter(out);
  const stats = emptyStats();
  let n = 0;
  try {
    const head = [...(keep ?? []), "pctr", "pcvr", "pctcvr"];
    if (gates) for (const t of ["ctr", "cvr"]) for (let e = 0; e < E; e++) head.push(`gate_${t}_${e}`);
    await w.write(head.map((h) => csvCell(h)).join(",") + "\n");
    const bb = new BatchBuilder(pre);
    let kept: string[][] = [];
    const flush = async (): Promise<void> => {
      const b = bb.flush();
      const s = workers ? await predictParallel(model, workers, b) : model.predict(b);
      for (const k of ["pCtr", "pCvr", "pCtcvr"] as const) {
        const bad = firstNonFinite(s[k]);
        if (bad) throw new Error(`${path}: the model scores ${bad.count} row(s) as a non-finite ${k} (first: data row ${n + bad.index + 1}); nothing was written to ${out}`);
      }
      let text = "";
      for (let i = 0; i < b.size; i++) {
        if (keep) text += kept[i]!.map((c) => csvCell(c)).join(",") + ",";
        text += `${s.pCtr[i]},${s.pCvr[i]},${s.pCtcvr[i]}`;
        if (gates && s.gates) {
          for (let e = 0; e < E; e++) text += `,${s.gates.ctr[i * E + e]}`;
          for (let e = 0; e < E; e++) text += `,${s.gates.cvr[i * E + e]}`;
        }
        text += "\n";
      }
      n += b.size;
      kept = [];
      await w.write(text);
    };
    for await (const r of src.rows(stats)) {
      bb.push(r);
      if (keep) kept.push(r.kept ?? []);
      if (bb.size === 4096) await flush();
    }
    if (bb.size > 0) await flush();
    await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  } finally {
    await workers?.close();
  }
  reportStats(path, stats, io.err);
  if (stats.bad > 0) io.err(`note: the ${stats.bad} skipped line(s) have no row in ${toStdout ? "the output" : out}`);
  (toStdout ? io.err : io.out)(`wrote ${n} predictions to ${toStdout ? "standard output" : out}`);
}

export async function inspectCommand(p: Parsed, io: Io): Promise<void> {
  const dir = need(p, "model");
  const ck = await loadCheckpoint(dir);
  const m = ck.model;
  const c = m.config;
  const lines: string[] = [];
  lines.push(`${dir}: ${m.variant}, checkpoint format version ${ck.json.formatVersion}`);
  lines.push(`fields (${c.fields.length}, D = ${c.dim}): ${c.fields.map((f) => `${f.name}${f.kind === "multi" ? "[bag]" : ""}(${f.vocab})`).join(", ")}`);
  if (c.dense.length) lines.push(`dense features: ${c.dense.join(", ")}`);
  if (m.gates) lines.push(`experts: ${c.experts.count} x [${c.experts.hidden.join(" -> ")}], gates per task, towers [${c.towers.hidden.join(" -> ")} -> 1]`);
  else lines.push(`towers: CTR and CVR MLPs [${[...c.experts.hidden, ...c.towers.hidden].join(" -> ")} -> 1]`);
  const groups = new Map<string, number>();
  for (const [name, t] of m.namedParameters()) {
    const g = name.split(".")[0]!;
    groups.set(g, (groups.get(g) ?? 0) + t.size);
  }
  lines.push(`parameters: ${m.parameterCount().toLocaleString("en-US")} (${[...groups].map(([g, n]) => `${g} ${n.toLocaleString("en-US")}`).join(", ")})`);
  const tr = ck.json.training ?? {};
  if (tr.epochsDone !== undefined) lines.push(`trained: ${String(tr.epochsDone)} epoch(s), seed ${String(tr.seed)}, batch ${String(tr.batch)}, lr ${String(tr.lr)}`);
  let usage = (tr.gateUsage as { ctr: number[]; cvr: number[] } | undefined) ?? null;
  let where = "validation data at training";
  const dataPath = str(p, "data");
  if (dataPath && m.gates) {
    const { src, pre } = await modelAndSource(p, dataPath, true);
    usage = gateUsage(m, await loadDataset(src, pre));
    where = dataPath;
  }
  if (p.json) {
    io.out(JSON.stringify({ model: dir, variant: m.variant, formatVersion: ck.json.formatVersion, config: c, parameters: m.parameterCount(), parameterGroups: Object.fromEntries(groups), training: { ...tr, history: undefined }, gateUsage: m.gates ? { source: usage ? where : null, ...(usage ?? {}) } : null }, null, 2));
    return;
  }
  if (m.gates) {
    if (usage) {
      lines.push(`gate usage (mean weight on each expert, ${where}):`);
      for (const t of ["ctr", "cvr"] as const) lines.push(`  ${t.toUpperCase()} task: ${usage[t].map((v, e) => `expert ${e} ${(v * 100).toFixed(1)}%`).join(", ")}`);
    } else lines.push("gate usage: unknown (train with --valid, or pass --data)");
  }
  io.out(lines.join("\n"));
}

