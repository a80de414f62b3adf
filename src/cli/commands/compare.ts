/**
 * `esmm compare`: train each model once per seed on the same simulated world (one model per worker
 * thread), then report every metric as mean +- std over seeds and, against a baseline model, the
 * paired difference with its 95% interval: run s of every model uses seed s, so the pair shares
 * its initialisation seed and its shuffling, and the difference removes what they share.
 */
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { mkdirSync, readFileSync } from "node:fs";
import { BOTTOMS, OBJECTIVE_NAMES, PRESETS, PRESET_NAMES, assertTrainable, checkLossWeights, modelName, resolveConfig, type AbSettings, type Bottom, type ObjectiveName, type Preset } from "../../index.js";
import { refuseInsideCheckpoint, writeFileAtomic } from "../../node/index.js";
import { UsageError, given, int, list, nearestName, need, pathOption, str, type Parsed } from "../args.js";
import type { DemoJob, ModelSpec } from "../demo-run.js";
import { fmtDuration } from "../format.js";
import type { Command, Io } from "../io.js";
import { runJobs, runSizes, throttledProgress } from "../jobs.js";
import { architectureOptions, counterfactualOf, csvOptionsFrom, dataOptions, dimOf, earlyStopOf, embInitOf, sizesOf, towersOf, expertOptionsOf, formatOf, inertOptions, lossWeightsOf, trainingOptions, heldOutWarning, workersOf } from "../shared.js";
import { simulatorRateOptions, simulatorRates, simulatorVocab, simulatorVocabOptions, vocabularyText } from "../sim-options.js";
import { compareReport } from "../report.js";
import { compareTable, summarise } from "../comparison.js";

/**
 * --models FILE: a JSON array of models, each `{ "name": ..., "preset": ... | "bottom": ..., "objective": ...,
 * and any of "experts", "towers", "dim", "embeddingInit", "counterfactual", "lossWeights" }`, so that
 * models differing in more than their preset can be compared in one run.
 */
function modelsFromFile(path: string): Array<{ name: string; spec: ModelSpec }> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UsageError(`--models ${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw) || raw.length === 0) throw new UsageError(`--models ${path}: must be a non-empty JSON array of models`);
  const KEYS = new Set(["name", "preset", "bottom", "objective", "experts", "towers", "dim", "embeddingInit", "counterfactual", "lossWeights"]);
  const models = raw.map((m: Record<string, unknown>, i) => {
    const at = `--models ${path}: model ${i}`;
    if (!m || typeof m !== "object") throw new UsageError(`${at} is not an object`);
    for (const k of Object.keys(m)) {
      if (KEYS.has(k)) continue;
      const near = nearestName(k, KEYS);
      throw new UsageError(`${at}: unknown key "${k}"${near ? ` (did you mean "${near}"?)` : ""}`);
    }
    const preset = m.preset === undefined ? undefined : String(m.preset);
    if (preset !== undefined && !PRESET_NAMES.includes(preset as Preset)) throw new UsageError(`${at}: unknown preset "${preset}"`);
    const { name: _n, preset: _p, ...rest } = m;
    const spec = { ...PRESETS[(preset ?? "esmm-mmoe") as Preset], ...rest } as ModelSpec;
    if (!BOTTOMS.includes(spec.bottom)) throw new UsageError(`${at}: unknown bottom "${spec.bottom}"`);
    if (!OBJECTIVE_NAMES.includes(spec.objective)) throw new UsageError(`${at}: unknown objective "${spec.objective}"`);
    // every setting checked now, as a model would check it, not in the middle of the runs
    try {
      const { lossWeights, ...config } = spec;
      const cfg = resolveConfig({ ...config, fields: [{ name: "x", vocab: 2 }] });
      assertTrainable(cfg);
      if (lossWeights !== undefined) checkLossWeights(lossWeights, "lossWeights", cfg);
    } catch (e) {
      throw new UsageError(`${at}: ${(e as Error).message}`);
    }
    return { name: typeof m.name === "string" && m.name ? m.name : modelName(spec), spec };
  });
  const seen = new Set<string>();
  for (const m of models) {
    if (seen.has(m.name)) throw new UsageError(`--models ${path}: two models are named "${m.name}" (give each a "name" of its own)`);
    seen.add(m.name);
  }
  return models;
}

function modelsOf(p: Parsed): Array<{ name: string; spec: ModelSpec }> {
  const out: Array<{ name: string; spec: ModelSpec }> = [];
  const file = str(p, "models");
  if (file) out.push(...modelsFromFile(file));
  const presets = list(p, "presets");
  const bottoms = list(p, "bottoms");
  const objectives = list(p, "objectives");
  for (const n of presets ?? []) {
    if (!PRESET_NAMES.includes(n as Preset)) throw new UsageError(`--presets: unknown preset "${n}" (one of ${PRESET_NAMES.join(", ")})`);
    out.push({ name: n, spec: { ...PRESETS[n as Preset] } });
  }
  if (bottoms || objectives) {
    for (const b of bottoms ?? ["shared"]) {
      if (!BOTTOMS.includes(b as Bottom)) throw new UsageError(`--bottoms: unknown bottom "${b}" (one of ${BOTTOMS.join(", ")})`);
      for (const o of objectives ?? ["entire-space"]) {
        if (!OBJECTIVE_NAMES.includes(o as ObjectiveName)) throw new UsageError(`--objectives: unknown objective "${o}" (one of ${OBJECTIVE_NAMES.join(", ")})`);
        const spec = { bottom: b as Bottom, objective: o as ObjectiveName };
        const name = modelName(spec);
        if (!out.some((m) => m.name === name)) out.push({ name, spec });
      }
    }
  }
  if (out.length === 0) for (const n of ["esmm-mmoe", "esmm", "base"] as const) out.push({ name: n, spec: { ...PRESETS[n] } });
  // settings every model shares
  const shared: Partial<ModelSpec> = {};
  const lw = lossWeightsOf(p);
  if (lw) shared.lossWeights = lw;
  if (str(p, "ips-clip") !== undefined || p["ips-normalize"] === true) shared.counterfactual = counterfactualOf(p);
  if (str(p, "dim") !== undefined) shared.dim = dimOf(p);
  const eh = sizesOf(p, "expert-hidden");
  const eo = expertOptionsOf(p);
  if (eo || eh) shared.experts = { ...eo, ...(eh ? { hidden: eh } : {}) };
  const th = towersOf(p);
  if (th) shared.towers = th;
  // --emb-inits: a further axis (every model under each init)
  const inits = list(p, "emb-inits");
  const withShared = out.map((m) => ({ name: m.name, spec: { ...shared, ...m.spec } }));
  if (!inits) return withShared;
  return withShared.flatMap((m) => inits.map((v) => ({ name: inits.length > 1 ? `${m.name} @${v}` : m.name, spec: { ...m.spec, embeddingInit: embInitOf(v, "--emb-inits") } })));
}

async function compareCommand(p: Parsed, io: Io): Promise<void> {
  const models = modelsOf(p);
  const nSeeds = int(p, "seeds", 5, 1);
  const firstSeed = int(p, "seed", 1);
  const seeds = Array.from({ length: nSeeds }, (_, i) => firstSeed + i);
  const rows = int(p, "rows", 100_000, 100);
  const baselines = list(p, "baseline") ?? [models[0]!.name];
  for (const b of baselines) if (!models.some((m) => m.name === b)) throw new UsageError(`--baseline "${b}" is not one of the models compared (${models.map((m) => m.name).join(", ")})`);
  const es = earlyStopOf(p);
  const sim = { seed: int(p, "sim-seed", 7), ...simulatorRates(p), ...simulatorVocab(p) };
  const epochs = int(p, "epochs", 1, 1);
  const trainPath = str(p, "train");
  const files: DemoJob["files"] = trainPath
    ? { train: trainPath, valid: need(p, "valid"), test: str(p, "test") ?? null, format: formatOf(p), csv: csvOptionsFrom(p), minCount: sim.minCount, ...(str(p, "common") ? { common: str(p, "common")! } : {}), ...(str(p, "schema") ? { schema: str(p, "schema")! } : {}) }
    : undefined;
  if (!files && (str(p, "valid") || str(p, "test"))) throw new UsageError("--valid and --test go with --train (files instead of the simulator)");
  // an option of the other data source would be ignored, and the run would not be the one asked for
  const simOnly = ["rows", "sim-seed", ...Object.keys(simulatorRateOptions()), "vocab"].find((k) => given(p, k));
  if (files && simOnly) throw new UsageError(`--${simOnly} describes the simulated data, and --train compares on files; leave it out, or leave out --train`);
  const fileOnly = Object.keys(dataOptions()).filter((k) => k !== "backend").find((k) => given(p, k));
  if (!files && fileOnly) throw new UsageError(`--${fileOnly} describes a data file, and without --train compare runs on simulated data; give --train FILE --valid FILE, or leave it out`);
  const sessions = int(p, "sessions", 0, 0);
  if (files && sessions > 0) throw new UsageError("--sessions plays the simulated A/B test, which needs the simulator's truth: it does not go with --train");
  // the demo's A/B settings; every run plays the same sessions, so runs pair by seed as the AUCs do
  const abtest: AbSettings | null = sessions > 0 ? { sessions, candidates: 50, top: 10, seed: 1 } : null;
  const jobs: DemoJob[] = models.flatMap((m) =>
    seeds.map((seed) => ({
      variant: m.name,
      model: m.spec,
      ...runSizes(p, rows, epochs),
      seed,
      sim,
      ...(es ? { earlyStop: { metric: es, patience: int(p, "patience", 1, 1) } } : {}),
      ...(p.diagnostics === true ? { diagnostics: true } : {}),
      ...(abtest ? { abtest } : {}),
      ...(files ? { files } : {}),
    })),
  );
  const workers = workersOf(p, availableParallelism());
  const outDir = pathOption(p, "out", "compare writes a directory (compare.html, compare.json; --json prints the results)");
  if (outDir) await refuseInsideCheckpoint(join(resolve(outDir), "compare.json")); // before the runs, not after them
  for (const w of inertOptions(p, models.map((m) => ({ bottom: m.spec.bottom, objective: m.spec.objective })), files?.format ?? "csv")) io.err(`warning: ${w}`);
  if (files) {
    for (const [flag, f] of [["--valid", files.valid], ["--test", files.test]] as const) {
      const self = f === null ? null : await heldOutWarning(flag, files.train, f, files.schema);
      if (self) io.err(`warning: ${self}`);
    }
  }
  if (files && !files.test && es) io.err(`warning: without --test the models are scored on ${files.valid}, on which early stopping chose their epochs, so the figures flatter them a little; give --test FILE for held-out ones`);
  io.err(`esmm compare: ${models.length} models x ${nSeeds} seeds = ${jobs.length} runs, ${files ? files.train : `${rows.toLocaleString("en-US")} simulated training impressions`}, ${epochs} epoch(s)${es ? ` (early stopping on ${es})` : ""}, ${workers || "no"} worker thread(s)`);
  const t0 = performance.now();
  let done = 0;
  const results = await runJobs(jobs, workers, throttledProgress(io, t0, 5000), (j, r) => io.err(`  ${++done}/${jobs.length} ${j.variant} seed ${j.seed} done in ${fmtDuration(r.seconds)}`));
  const data: Record<string, string | number> = files ? { train: files.train, valid: files.valid, test: files.test ?? files.valid } : { "training impressions": rows, "simulator seed": sim.seed, "simulator ctr": sim.ctr, "simulator cvr": sim.cvr, "simulator bias": sim.bias, "simulator users": sim.users, "simulator apps": sim.apps, vocabularies: vocabularyText(sim) };
  const setup = { ...data, ...(abtest ? { "A/B sessions": `${sessions} (${abtest.candidates} candidates, top ${abtest.top} by pCTCVR)` } : {}), epochs, ...(es ? { "early stopping": es } : {}), seeds: seeds.join(","), "wall time": fmtDuration((performance.now() - t0) / 1000) };
  const c = summarise(models.map((m) => m.name), models.map((m) => m.spec), seeds, results, baselines, setup);
  if (outDir) {
    const dir = resolve(outDir);
    mkdirSync(dir, { recursive: true });
    await writeFileAtomic(`${dir}/compare.json`, JSON.stringify({ ...c, runs: results.map((r) => ({ model: r.variant, seed: r.seed, bestEpoch: r.bestEpoch, test: r.test, epochs: r.epochs, ...(r.diagnostics ? { diagnostics: r.diagnostics } : {}) })) }, null, 1) + "\n");
    await writeFileAtomic(`${dir}/compare.html`, compareReport(c));
    io.err(`report: ${dir}/compare.html (results: ${dir}/compare.json)`);
  }
  if (p.json) {
    io.out(JSON.stringify({ ...c, runs: results.map((r) => ({ model: r.variant, seed: r.seed, bestEpoch: r.bestEpoch, test: r.test, ...(r.diagnostics ? { diagnostics: r.diagnostics } : {}) })) }, null, 2));
    return;
  }
  io.out(compareTable(c));
  if (es) io.out(`best epochs (by ${es}): ${c.models.map((m) => `${m.name} ${m.bestEpochs.join(",")}`).join("; ")}`);
}

export const command: Command = {
  name: "compare",
  summary: "train several models over several seeds (simulated data, or files); mean +- std and paired differences with 95% intervals",
  usage: "esmm compare [--presets a,b | --bottoms b1,b2 --objectives o1,o2 | --models FILE] [--emb-inits normal:1,normal:0.0001] [--seeds 5] [--epochs N] [--baseline NAME] [--ctr R --cvr R --bias B --users N --apps N [--sessions N] [--vocab fitted|world] | --train FILE --valid FILE [--test FILE]] [--json] [--out DIR]",
  options: {
    models: { type: "string", help: "a JSON file listing models with their own settings (name, preset or bottom/objective, experts, towers, lossWeights, ...)" },
    presets: { type: "string", help: `comma-separated presets (${PRESET_NAMES.join(", ")}); default esmm-mmoe,esmm,base when no model is named` },
    bottoms: { type: "string", help: `comma-separated bottoms (${BOTTOMS.join(", ")}), crossed with --objectives (default shared)` },
    objectives: { type: "string", help: `comma-separated objectives (${OBJECTIVE_NAMES.join(", ")}), crossed with --bottoms (default entire-space)` },
    "emb-inits": { type: "string", help: "comma-separated embedding inits (normal:STD); every model is trained under each" },
    baseline: { type: "string", help: "the model(s), comma-separated, the paired differences are taken against (default the first model); \">\" / \"<\" mark an interval above / below zero" },
    seeds: { type: "string", help: "runs per model, with seeds --seed, --seed + 1, ... (default 5)" },
    seed: { type: "string", help: "the first model seed (default 1)" },
    rows: { type: "string", help: "training impressions (default 100000); validation is a fifth of that, test as many" },
    ...trainingOptions(),
    "early-stop": { type: "string", help: "validation metric to stop on and restore the best epoch by (ctcvrAuc, ctrAuc, ...)" },
    patience: { type: "string", help: "epochs without improvement before stopping (default 1)" },
    "sim-seed": { type: "string", help: "seed of the simulated world (default 7)" },
    train: { type: "string", help: "train on this file instead of the simulator (the entire-space CVR AUC needs the true_pcvr column esmm generate writes)" },
    valid: { type: "string", help: "with --train: the validation file (early stopping; the test set unless --test)" },
    test: { type: "string", help: "with --train: the file the models are scored on" },
    ...dataOptions(),
    ...simulatorRateOptions(),
    ...simulatorVocabOptions(),
    dim: { type: "string", help: "embedding width D (default 16)" },
    ...architectureOptions(),
    sessions: { type: "string", help: "simulated data: every run also plays the simulated A/B test over this many user sessions (the same ones for every run; 50 candidates, top 10 by pCTCVR), and installs per user is compared over seeds as the AUCs are (default 0: none)" },
    diagnostics: { type: "flag", help: "record gate usage and entropy and each task's gradient norm into each expert after every epoch (in --out's compare.json and --json)" },
    workers: { type: "string", help: "models trained at once, one per worker thread (default: the number of cores; 0 trains inline)" },
    json: { type: "flag", help: "print the comparison and every run as one JSON object on standard output" },
    out: { type: "string", help: "directory for compare.html and compare.json" },
  },
  run: compareCommand,
};
