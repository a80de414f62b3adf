/** What several `esmm` commands share: option groups (data, backend, training), reading files as a model expects, reporting. */
import {
  BACKENDS,
  CONFIG_LIMITS,
  F32_MAX,
  BOTTOMS,
  DEFAULT_EMBEDDING_INIT,
  DEFAULT_EXPERTS,
  DEFAULT_TOWERS,
  EXPERT_SHARES,
  type ExpertShare,
  OBJECTIVE_NAMES,
  PRESETS,
  PRESET_NAMES,
  modelName,
  type Bottom,
  type CounterfactualConfig,
  type CsvOptions,
  type EmbeddingInit,
  type EsmmConfig,
  type LossWeights,
  type MetricName,
  type ObjectiveName,
  type Preset,
  type Schema,
  type SimulatorOptions,
} from "../index.js";
import { availableParallelism } from "node:os";
import { ctrOwnsEveryExpert } from "../esmm/config.js";
import { parseDecimal, simulatorOptionsFromJSON, type Preprocessor, type UnseenCounts } from "../data/index.js";
import {
  FORMATS,
  checkSchema,
  loadCheckpoint,
  type LoadedCheckpoint,
  DEFAULT_MAX_LINE,
  openSource,
  sameFile,
  simulatedSourceOf,
  STDIN,
  type Format,
  type ReadStats,
  type RowSource,
} from "../node/index.js";

import { UsageError, given, int, list, need, num, str, type OptionSpec, type Parsed } from "./args.js";

export type { Io } from "./io.js";
/** --backend, which every command that computes takes (ESMM_BACKEND sets the same). */
export function backendOption(): Record<string, OptionSpec> {
  return { backend: { type: "string", help: `kernels: ${BACKENDS.join(", ")} (default wasm where WebAssembly SIMD runs, else ts; env ESMM_BACKEND)` } };
}

/** The options that choose a model: a preset, or a bottom and an objective, and their settings. */
export function modelOptions(): Record<string, OptionSpec> {
  return {
    preset: { type: "string", help: `a named model: ${PRESET_NAMES.join(", ")} (default esmm-mmoe; --variant is the same option)` },
    variant: { type: "string", help: "the old name of --preset" },
    bottom: { type: "string", help: `the network under the heads: ${BOTTOMS.join(", ")} (overrides the preset's)` },
    objective: { type: "string", help: `the loss: ${OBJECTIVE_NAMES.join(", ")} (overrides the preset's)` },
    "emb-init": { type: "string", help: `embedding initialisation as kind:std, e.g. normal:0.0001 (default normal:${DEFAULT_EMBEDDING_INIT.std})` },
    ...architectureOptions(),
  };
}

/** The settings of a model beyond its bottom and objective (esmm train; esmm compare applies them to every model). */
export function architectureOptions(): Record<string, OptionSpec> {
  return {
    experts: { type: "string", help: `mmoe bottom: number of experts (default ${DEFAULT_EXPERTS.count})` },
    "expert-share": { type: "string", help: `mmoe bottom: owned (expert e is trained by task e mod 2 only, ctr 0, cvr 1; default), all (every task trains every expert: plain MMoE) or cgc (experts 0, 1 owned, 2 and up shared)` },
    "gate-prior": { type: "string", help: `mmoe bottom: initial gate logit each task gives its own experts (default ${DEFAULT_EXPERTS.gatePrior}; 0: even)` },
    "expert-dropout": { type: "string", help: "mmoe bottom: while training, drop each expert's output for a row with this probability (default 0)" },
    "expert-hidden": { type: "string", help: "hidden sizes of each expert (shared/separate bottoms: of each task's MLP before its tower), comma-separated (default 256,128)" },
    "tower-hidden": { type: "string", help: `hidden sizes of each task's tower, comma-separated (default ${DEFAULT_TOWERS.hidden.join(",")}; empty for none); the CVR tower's too, unless --cvr-tower-hidden` },
    "cvr-tower-hidden": { type: "string", help: `hidden sizes of the CVR tower (default: --tower-hidden's where given, else ${DEFAULT_TOWERS.mmoeCvr.join(",")} for the mmoe bottom and ${DEFAULT_TOWERS.hidden.join(",")} for the others)` },
    "loss-weights": { type: "string", help: "weights of the loss terms as ctr,cvr[,counterfactual[,imputation]] (cvr: the CTCVR term, or the clicked-only CVR term of the clicked objective; default 1 each)" },
    "ips-clip": { type: "string", help: "escm2 objectives: clip pCTR from below at this before weighting clicks by 1/pCTR (default 0.05)" },
    "ips-normalize": { type: "flag", help: "escm2 objectives: divide the weighted CVR risk by the batch's sum of weights, not its size" },
  };
}

/** `normal:0.0001` -> { kind: "normal", std: 0.0001 }. */
export function embInitOf(v: string, flag = "--emb-init"): EmbeddingInit {
  const m = /^(normal):([^:]+)$/.exec(v.trim());
  const std = m ? parseDecimal(m[2]!) : Number.NaN;
  if (!m || !Number.isFinite(std) || std < 0 || std > F32_MAX) throw new UsageError(`${flag} must be normal:STD with a float32 STD >= 0 (e.g. normal:0.0001), got "${v}"`);
  return { kind: "normal", std };
}

/**
 * The bottom, objective, counterfactual settings and embedding init the options ask for; where an
 * option is absent, `saved`'s value (a resumed checkpoint's), else the preset's, else the default.
 */
export function modelChoice(p: Parsed, saved?: EsmmConfig): { bottom: Bottom; objective: ObjectiveName; counterfactual: CounterfactualConfig; embeddingInit: EmbeddingInit } {
  const presetName = str(p, "preset") ?? str(p, "variant");
  if (presetName !== undefined && !PRESET_NAMES.includes(presetName as Preset)) throw new UsageError(`--preset must be one of ${PRESET_NAMES.join(", ")}, got "${presetName}"`);
  const preset = presetName ? PRESETS[presetName as Preset] : (saved ?? PRESETS["esmm-mmoe"]);
  const bottom = str(p, "bottom") ?? preset.bottom;
  if (!BOTTOMS.includes(bottom as Bottom)) throw new UsageError(`--bottom must be one of ${BOTTOMS.join(", ")}, got "${bottom}"`);
  const objective = str(p, "objective") ?? preset.objective;
  if (!OBJECTIVE_NAMES.includes(objective as ObjectiveName)) throw new UsageError(`--objective must be one of ${OBJECTIVE_NAMES.join(", ")}, got "${objective}"`);
  const counterfactual = counterfactualOf(p, saved?.counterfactual);
  const e = str(p, "emb-init");
  const embeddingInit = e !== undefined ? embInitOf(e) : (saved?.embeddingInit ?? DEFAULT_EMBEDDING_INIT);
  return { bottom: bottom as Bottom, objective: objective as ObjectiveName, counterfactual, embeddingInit };
}

/** --dim: the embedding width (default 16), within the config's limit. */
export function dimOf(p: Parsed): number {
  return int(p, "dim", 16, 1, CONFIG_LIMITS.dim);
}

/** --experts, --expert-share, --gate-prior (undefined where none is given). */
export function expertOptionsOf(p: Parsed): { count?: number; share?: ExpertShare; gatePrior?: number; dropout?: number } | undefined {
  const share = str(p, "expert-share");
  if (share !== undefined && !EXPERT_SHARES.includes(share as ExpertShare)) throw new UsageError(`--expert-share must be one of ${EXPERT_SHARES.join(", ")}, got "${share}"`);
  const o: { count?: number; share?: ExpertShare; gatePrior?: number; dropout?: number } = {};
  if (str(p, "experts") !== undefined) o.count = int(p, "experts", DEFAULT_EXPERTS.count, 1, CONFIG_LIMITS.experts);
  if (share) o.share = share as ExpertShare;
  if (o.count !== undefined && ctrOwnsEveryExpert({ count: o.count, share: o.share ?? DEFAULT_EXPERTS.share })) {
    throw new UsageError(`--experts ${o.count} with --expert-share ${o.share ?? DEFAULT_EXPERTS.share}: the one expert would be the ctr task's alone, and the cvr task's gradient would never reach the bottom; give --experts 2 or more, or --expert-share all`);
  }
  if (str(p, "gate-prior") !== undefined) o.gatePrior = num(p, "gate-prior", 0, (x) => Math.abs(x) <= 20, "in [-20, 20]");
  if (str(p, "expert-dropout") !== undefined) o.dropout = num(p, "expert-dropout", 0, (x) => x >= 0 && x <= 0.9, "in [0, 0.9]");
  return Object.keys(o).length ? o : undefined;
}

/** --ips-clip and --ips-normalize, over `base` (a resumed checkpoint's settings, else the defaults). */
export function counterfactualOf(p: Parsed, base: CounterfactualConfig = { clip: 0.05, normalize: false }): CounterfactualConfig {
  return { clip: num(p, "ips-clip", base.clip, (x) => x > 0 && x <= 1, "in (0, 1]"), normalize: p["ips-normalize"] === true || (p["ips-normalize"] === undefined && base.normalize) };
}

/** --loss-weights ctr,cvr[,counterfactual[,imputation]]. */
export function lossWeightsOf(p: Parsed): LossWeights | undefined {
  const v = str(p, "loss-weights");
  if (v === undefined) return undefined;
  const w = v.split(",").map(parseDecimal);
  if (w.length < 2 || w.length > 4 || w.some((x) => !Number.isFinite(x) || x < 0)) throw new UsageError(`--loss-weights must be two to four finite numbers >= 0 as ctr,cvr[,counterfactual[,imputation]], got "${v}"`);
  if (w.every((x) => x === 0)) throw new UsageError(`--loss-weights ${v}: every weight is 0, so nothing would be trained`);
  const keys = ["ctr", "cvr", "counterfactual", "imputation"] as const;
  return Object.fromEntries(w.map((x, i) => [keys[i], x])) as LossWeights;
}

/**
 * Options given that change nothing for the models a run trains, each as a sentence saying where it
 * applies: an option a model ignores is most often a slip (a flag meant for another preset), and a
 * run that silently ignores it reports results the user did not ask for. `esmm train` and `esmm
 * compare` print them as warnings (an option inert for every model compared).
 */
export function inertOptions(p: Parsed, models: readonly { bottom: Bottom; objective: ObjectiveName }[], format: Format): string[] {
  const out: string[] = [];
  const what = [...new Set(models.map((m) => modelName(m)))].join(", ");
  for (const k of ["experts", "expert-share", "gate-prior", "expert-dropout"]) {
    if (given(p, k) && !models.some((m) => m.bottom === "mmoe")) out.push(`--${k} has no effect: it sets the mmoe bottom's experts, and no model here has that bottom (${what})`);
  }
  for (const k of ["ips-clip", "ips-normalize"]) {
    if (given(p, k) && !models.some((m) => m.objective.startsWith("escm2"))) out.push(`--${k} has no effect: it applies to the escm2-ips and escm2-dr objectives, and no model here has one (${what})`);
  }
  const lw = str(p, "loss-weights")?.split(",").length ?? 0;
  if (lw >= 3 && !models.some((m) => m.objective.startsWith("escm2"))) out.push(`--loss-weights: the third weight has no effect: only the escm2 objectives have a counterfactual term, and no model here has one (${what})`);
  if (lw >= 4 && !models.some((m) => m.objective === "escm2-dr")) out.push(`--loss-weights: the fourth weight has no effect: only escm2-dr has an imputation term, and no model here is one (${what})`);
  if (given(p, "patience") && !given(p, "early-stop")) out.push("--patience has no effect without --early-stop");
  if (given(p, "min-count") && given(p, "hash-buckets")) out.push("--min-count has no effect with --hash-buckets: every id hashes into a bucket, and no vocabulary is kept");
  if (given(p, "common") && format !== "aliccp-raw") out.push(`--common has no effect: it is the aliccp-raw format's common_features file, and the format is ${format}`);
  if (format === "aliccp-raw") {
    for (const k of ["schema", "click", "conversion", "categorical", "multi", "multi-sep", "dense", "ignore", "user", "delimiter"]) {
      if (given(p, k)) out.push(`--${k} has no effect: it describes CSV columns, and the aliccp-raw format has its own`);
    }
  }
  return out;
}

/** --early-stop METRIC (undefined when absent): a validation metric train() can watch. */
export function earlyStopOf(p: Parsed): MetricName | undefined {
  const es = str(p, "early-stop");
  const METRICS: MetricName[] = ["ctrAuc", "cvrAuc", "ctcvrAuc", "ctrLogLoss", "cvrLogLoss", "ctcvrLogLoss"];
  if (es !== undefined && !METRICS.includes(es as MetricName)) throw new UsageError(`--early-stop must be one of ${METRICS.join(", ")}, got "${es}"`);
  return es as MetricName | undefined;
}

/** --tower-hidden and --cvr-tower-hidden as a config's `towers` (undefined when neither is given: the defaults). */
export function towersOf(p: Parsed): { hidden?: number[]; cvr?: number[] } | undefined {
  const hidden = sizesOf(p, "tower-hidden");
  const cvr = sizesOf(p, "cvr-tower-hidden");
  if (!hidden && !cvr) return undefined;
  return { ...(hidden ? { hidden } : {}), ...(cvr ? { cvr } : {}) };
}

/** A comma list of positive integers (layer sizes); "" for none. */
export function sizesOf(p: Parsed, key: string): number[] | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  if (v.trim() === "") return [];
  return v.split(",").map((x) => {
    const n = parseDecimal(x);
    if (!Number.isInteger(n) || n < 1 || n > CONFIG_LIMITS.width) throw new UsageError(`--${key} must be comma-separated integers in [1, ${CONFIG_LIMITS.width}], got "${v}"`);
    return n;
  });
}

/** The most threads (or worker threads) a flag may ask for: four per core. */
export function maxThreads(): number {
  return 4 * availableParallelism();
}

/**
 * Refuses a thread count beyond maxThreads(). Every thread holds a WebAssembly instance and a replica
 * of the model with its activations (tens to hundreds of MB), and threads past the cores only add
 * that, so a slip such as --threads 999 would fill the machine's memory instead of failing.
 */
export function checkThreads(n: number, flag: string): number {
  const max = maxThreads();
  if (n > max) throw new UsageError(`${flag} ${n}: at most ${max} here (${availableParallelism()} cores; each thread holds its own copy of the model's working memory, and threads past the cores only add that)`);
  return n;
}

/** --threads N | auto. */
export function threadsOf(p: Parsed): number {
  const t = str(p, "threads");
  if (t === undefined) return 1;
  if (t === "auto") return availableParallelism();
  return checkThreads(int(p, "threads", 1, 1), "--threads");
}

/** --workers N (worker threads that each train whole models; 0: none), at most maxThreads(). */
export function workersOf(p: Parsed, fallback: number): number {
  return checkThreads(int(p, "workers", fallback, 0), "--workers");
}

export function dataOptions(): Record<string, OptionSpec> {
  return {
    ...backendOption(),
    format: { type: "string", help: `data format: ${FORMATS.join(", ")} (default csv, or the model's)` },
    common: { type: "string", help: "aliccp-raw: the common_features file" },
    schema: { type: "string", help: "csv: a JSON file of the columns' meanings as a <data>.schema.json sidecar holds them, read instead of the sidecar (standard input has none); the flags below override it" },
    click: { type: "string", help: "csv: click label column (default click)" },
    conversion: { type: "string", help: "csv: conversion label column (default conversion)" },
    categorical: { type: "string", help: "csv: comma-separated categorical columns (default: all the others)" },
    multi: { type: "string", help: "csv: comma-separated multi-valued columns (ids split by --multi-sep, optional id:weight)" },
    "multi-sep": { type: "string", help: "csv: separator between the ids of a multi-valued cell (default |)" },
    dense: { type: "string", help: "csv: comma-separated dense numeric columns" },
    ignore: { type: "string", help: "csv: comma-separated columns to ignore" },
    user: { type: "string", help: "csv: user column for GAUC (default user_id when present)" },
    delimiter: { type: "string", help: "csv: field delimiter (default ,; tab for a tab)" },
    "max-line": { type: "string", help: `longest line accepted, in characters (default ${DEFAULT_MAX_LINE}); a longer one stops with its file and line` },
    "skip-bad": { type: "flag", help: "skip bad lines and count them instead of stopping at the first" },
  };
}

/** The options of a training run that train and demo share. */
export function trainingOptions(): Record<string, OptionSpec> {
  return {
    epochs: { type: "string", help: "total epochs (default 2)" },
    batch: { type: "string", help: "batch size (default 1024)" },
    lr: { type: "string", help: "Adam learning rate (default 0.001)" },
  };
}

export function csvOptionsFrom(p: Parsed): CsvOptions {
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
  const d = delimiterOf(p);
  if (d) o.delimiter = d;
  return o;
}

/** --delimiter: the character itself, or `tab` (or `\t`) for a tab, which a shell makes awkward to pass. */
export function delimiterOf(p: Parsed): string | undefined {
  const d = str(p, "delimiter");
  return d === "tab" || d === "\\t" ? "\t" : d;
}

/** CSV options that reproduce a trained model's schema on a new file. */
export function csvOptionsOf(schema: Schema, noLabels = false): CsvOptions {
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

export function formatOf(p: Parsed, fallback: Format = "csv"): Format {
  const f = str(p, "format") ?? fallback;
  if (!FORMATS.includes(f as Format)) throw new UsageError(`--format must be one of ${FORMATS.join(", ")}, got "${f}"`);
  return f as Format;
}

export function reportStats(what: string, s: ReadStats, log: (s: string) => void): void {
  if (s.bad > 0) log(`${what}: skipped ${s.bad} bad line(s); first: ${s.badExamples.join(" | ")}`);
  if (s.dropped > 0) log(`${what}: dropped ${s.dropped} row(s) with a conversion but no click (as the paper does)`);
}

/**
 * The column flags a file read as a model expects may give (eval, predict, train's --valid): the
 * labels and the GAUC key, which are not inputs, under any name the file has (`--click clk`); the
 * inputs' meanings are the model's, so `--categorical`, `--dense` and `--multi` may restate them
 * (a script passing train's flags to eval) and a contradiction is an error. They used to be ignored:
 * `eval --click clk` then stopped at a missing column "click".
 */
function labelsGiven(p: Parsed, schema: Schema): CsvOptions {
  const given = csvOptionsFrom(p);
  const inputs: Array<[string, string[] | undefined, string[]]> = [
    ["categorical", given.categorical, schema.categorical],
    ["dense", given.dense, schema.dense],
    ["multi", given.multi?.map((m) => m.name), schema.multi.map((m) => m.name)],
  ];
  for (const [k, mine, model] of inputs) {
    if (mine && (mine.length !== model.length || mine.some((c) => !model.includes(c)))) {
      throw new UsageError(`--${k} ${mine.join(",")} contradicts the model, which reads ${model.length ? model.join(",") : "no column"} as ${k}, as it was trained; leave it out (the file's columns are read with the model's meanings)`);
    }
  }
  return { ...(given.click ? { click: given.click } : {}), ...(given.conversion ? { conversion: given.conversion } : {}), ...(given.user !== undefined ? { user: given.user } : {}) };
}

/** How two simulated worlds differ, as "seed 8 (7 in training), bias 3 (1 in training)"; null when they are one world. */
export function worldDifference(data: Required<SimulatorOptions>, trained: Required<SimulatorOptions>): string | null {
  const keys = Object.keys(trained) as Array<keyof SimulatorOptions>;
  const diff = keys.filter((k) => data[k] !== trained[k]).map((k) => `${k} ${data[k]} (${trained[k]} in training)`);
  return diff.length ? diff.join(", ") : null;
}

/** A data file generated in another world than its model was trained on, said as a warning's text; null otherwise. */
export function otherWorldWarning(what: string, data: Required<SimulatorOptions>, trained: Required<SimulatorOptions>): string | null {
  const d = worldDifference(data, trained);
  return d ? `${what} was generated from another simulated world than the training data (${d}): the same ids name other users and apps there, so the model knows none of them` : null;
}

/** For eval and predict: a data file generated in another world than the checkpoint's training data (both recorded), as a warning's text; null otherwise. */
export function dataWorldWarning(p: Parsed, path: string, ck: LoadedCheckpoint): string | null {
  const trained = ck.json.training?.simulated;
  const data = simulatedSourceOf(path, str(p, "schema"));
  return trained && data ? otherWorldWarning(path, data.world, simulatorOptionsFromJSON(trained, "training.simulated")) : null;
}

/**
 * Why a validation or test file (`flag`) would not be held-out data of the training file's world,
 * or null: it is the training file (by inode, whatever the path); `esmm generate` drew both from
 * one world's same stream (their sidecars say), so the shorter file's rows begin the longer's and
 * its figures measure the fit to the rows trained on; or it drew them from two worlds.
 */
export async function heldOutWarning(flag: string, trainPath: string, other: string, trainSchema?: string): Promise<string | null> {
  if (trainPath !== STDIN && (await sameFile(trainPath, other))) return `${flag} ${other} is the training file itself: its figures measure the fit to the rows trained on, not to held-out ones`;
  const [t, o] = [simulatedSourceOf(trainPath, trainSchema), simulatedSourceOf(other)];
  if (!t || !o) return null;
  const world = otherWorldWarning(`${flag} ${other}`, o.world, t.world);
  if (world) return world;
  if (t.stream === o.stream) {
    return `${flag} ${other} was generated from the training file's world and stream (${t.stream}), so its rows are the training rows (the shorter file's rows begin the longer's): its figures measure the fit to the rows trained on; generate it with another --stream (1 for validation, 2 for test by convention)`;
  }
  return null;
}

/**
 * Says which columns of a scored file the model mostly never saw (half their values or more): their
 * scores come from the one out-of-vocabulary row, which is what a file of another encoding or
 * another world gives, and what nothing else in the output would show.
 */
export function reportUnseen(path: string, u: UnseenCounts, log: (s: string) => void): void {
  const most = u.above(0.5);
  if (most) log(`warning: ${path}: values the model never saw in training (they all read one out-of-vocabulary row): ${most}; if these columns should hold the training file's ids, check how they were encoded`);
}

/** Opens a file to be read exactly as a model's preprocessing expects (same columns and meanings). */
export async function openLike(p: Parsed, path: string, format: Format, pre: Preprocessor, noLabels = false, delimiter?: string, keep?: string[]): Promise<RowSource> {
  // the file's delimiter: --delimiter, else the one the model was trained on, else ","
  const d = delimiterOf(p) ?? delimiter;
  if (keep && format === "aliccp-raw") throw new UsageError("--keep needs a CSV format; aliccp-raw rows have no columns to keep");
  const csv: CsvOptions = format === "aliccp-raw" ? {} : { ...csvOptionsOf(pre.schema, noLabels), ...labelsGiven(p, pre.schema), ...(d ? { delimiter: d } : {}), ...(keep ? { keep } : {}) };
  const src = await openFor(p, path, format, csv);
  checkSchema(src, pre, path);
  return src;
}

export async function openFor(p: Parsed, path: string, format: Format, csv: CsvOptions): Promise<RowSource> {
  const spec = { format, path, csv, skipBad: p["skip-bad"] === true, maxLine: int(p, "max-line", DEFAULT_MAX_LINE, 1) } as Parameters<typeof openSource>[0];
  const common = str(p, "common");
  if (common) spec.common = common;
  const schema = str(p, "schema");
  if (schema) spec.schemaFile = schema;
  return openSource(spec);
}

export function fmt(v: number | null): string {
  return v === null ? "n/a" : v.toFixed(4);
}

/** The --model checkpoint (its weights; the optimizer is left unread) and a data file opened with its columns. */
export async function modelAndSource(p: Parsed, path: string, noLabels: boolean, keep?: string[]) {
  return sourceFor(p, path, await loadCheckpoint(need(p, "model"), { optimizer: false }), noLabels, keep);
}

/** A data file opened with a loaded checkpoint's columns and format (and delimiter, unless --delimiter says otherwise). */
export async function sourceFor(p: Parsed, path: string, ck: LoadedCheckpoint, noLabels: boolean, keep?: string[]) {
  if (!ck.preprocessor) throw new Error(`${str(p, "model") ?? ck.dir}: checkpoint has no preprocessing (vocabularies); it cannot read raw files`);
  const format = formatOf(p, (ck.json.training?.format as Format) ?? "csv");
  const trainedDelimiter = typeof ck.json.training?.delimiter === "string" ? (ck.json.training.delimiter as string) : undefined;
  const src = await openLike(p, path, format, ck.preprocessor, noLabels, trainedDelimiter, keep);
  return { ck, src, pre: ck.preprocessor };
}

