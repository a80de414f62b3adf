/**
 * `esmm demo` (what `npm start` runs): simulate app-store impressions, train esmm-mmoe, esmm and base
 * on them over a few seeds (in worker threads, one model per core), print the first seed's metrics
 * side by side, the comparison over seeds (as `esmm compare` reports it), and a simulated A/B test of
 * the first seed's models; write a self-contained HTML report plus the raw results as JSON.
 */
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { AppStoreSimulator, PRESETS, PRESET_NAMES, drawSessions, summariseArms, type AbSettings, type Preset } from "../index.js";
import { compareTable, comparisonMetrics, summarise } from "./comparison.js";
import { abTable, builtInArm } from "./commands/abtest.js";
import { refuseInsideCheckpoint, writeFileAtomic } from "../node/index.js";
import { UsageError, int, pathOption, str, type OptionSpec, type Parsed } from "./args.js";
import { trainingOptions, workersOf } from "./shared.js";
import type { Command, Io } from "./io.js";
import type { DemoJob, DemoResult } from "./demo-run.js";
import { runJobs, runSizes, throttledProgress } from "./jobs.js";
import { fmtDuration, metricsTable } from "./format.js";
import { renderReport } from "./report.js";

/** The models the demo trains by default: the flagship, the paper's ESMM and its BASE. */
const DEMO_PRESETS: readonly Preset[] = ["esmm-mmoe", "esmm", "base"];
import { simulatorRateOptions, simulatorRates, simulatorVocab, simulatorVocabOptions, vocabularyText } from "./sim-options.js";
import { mkdirSync } from "node:fs";

export const DEMO_SPEC: { usage: string; options: Record<string, OptionSpec> } = {
  usage: "esmm demo [--rows N] [--epochs N] [--seeds N] [--sessions N] [--out DIR] [--workers N] [--ctr R --cvr R --bias B --users N --apps N --seed S] [--vocab fitted|world]",
  options: {
    rows: { type: "string", help: "training impressions (default 100000); validation is a fifth of that, test as many" },
    ...trainingOptions(), // epochs (per model), batch, lr: as esmm train has them
    out: { type: "string", help: "directory for report.html and results.json (default runs/demo)" },
    workers: { type: "string", help: "models trained at once (default: the number of cores, at most 3)" },
    variants: { type: "string", help: `comma-separated presets to train (default ${DEMO_PRESETS.join(",")}; any of ${PRESET_NAMES.join(", ")})` },
    ...simulatorRateOptions(),
    ...simulatorVocabOptions(),
    seed: { type: "string", help: "seed of the simulated world and of the first model seed (default 7 / 1)" },
    seeds: { type: "string", help: "runs of each model, with model seeds 1, 2, ... (default 3)" },
    sessions: { type: "string", help: "user sessions of the simulated A/B test every model plays (its installs per user go into the comparison over seeds; the first seed's models get a table of their own; default 2000; 0 skips it)" },
  },
};

/** Plain-language observations computed from the numbers (never written in advance). */
export function observations(results: DemoResult[]): string[] {
  const notes: string[] = [];
  const by = (v: Preset): DemoResult | undefined => results.find((r) => r.variant === v);
  const es = (r: DemoResult): number | null => r.test.truth?.cvrAucEntireSpace ?? null;
  const ranked = results.filter((r) => es(r) !== null).sort((a, b) => es(b)! - es(a)!);
  if (ranked.length > 1) {
    notes.push(`Entire-space CVR AUC (pCVR on every test impression against the true conversion probability): ${ranked.map((r) => `${r.variant} ${es(r)!.toFixed(4)}`).join(" > ")}.`);
  }
  const base = by("base");
  for (const v of ["esmm", "esmm-mmoe"] as const) {
    const r = by(v);
    if (!r || !base) continue;
    const dc = (r.test.cvrAuc ?? Number.NaN) - (base.test.cvrAuc ?? Number.NaN);
    const de = (es(r) ?? Number.NaN) - (es(base) ?? Number.NaN);
    notes.push(
      `${v} vs base: CVR AUC on clicked rows ${dc >= 0 ? "+" : ""}${dc.toFixed(4)}, entire-space CVR AUC ${de >= 0 ? "+" : ""}${de.toFixed(4)}` +
        (dc * de < 0 ? " (the two disagree: the clicked-only metric is itself measured on the biased sample)." : "."),
    );
  }
  const mmoe = by("esmm-mmoe");
  if (mmoe?.gates) {
    const share = mmoe.gates.cvr.map((v) => `${(v * 100).toFixed(0)}%`).join(" / ");
    const shareCtr = mmoe.gates.ctr.map((v) => `${(v * 100).toFixed(0)}%`).join(" / ");
    notes.push(`esmm-mmoe gates: the CTR task weighs the experts ${shareCtr}, the CVR task ${share}.`);
  }
  return notes;
}

export async function demoCommand(p: Parsed, io: Io): Promise<void> {
  const rows = int(p, "rows", 100_000, 100);
  const variants = (str(p, "variants") ?? DEMO_PRESETS.join(",")).split(",").map((s) => s.trim()) as Preset[];
  for (const v of variants) if (!PRESET_NAMES.includes(v)) throw new UsageError(`--variants: unknown preset "${v}" (one of ${PRESET_NAMES.join(", ")})`);
  const nSeeds = int(p, "seeds", 3, 1);
  const seed0 = int(p, "seed", 1);
  const sim = { seed: int(p, "seed", 7), ...simulatorRates(p), ...simulatorVocab(p) };
  const sessions = int(p, "sessions", 2000, 0);
  const ab: AbSettings = { sessions, candidates: 50, top: 10, seed: 1 };
  const jobs: DemoJob[] = variants.flatMap((variant) =>
    Array.from({ length: nSeeds }, (_, k) => ({
      variant,
      model: PRESETS[variant],
      ...runSizes(p, rows, int(p, "epochs", 2, 1)),
      seed: seed0 + k,
      sim,
      // every seed plays the A/B test, so that installs per user is compared over seeds as the AUCs are
      ...(sessions > 0 ? { abtest: ab } : {}),
    })),
  );
  const workers = workersOf(p, Math.min(3, availableParallelism()));
  const outDir = resolve(pathOption(p, "out", "the demo writes a directory (report.html, results.json)") ?? "runs/demo");
  await refuseInsideCheckpoint(join(outDir, "report.html")); // before the runs, not after them
  io.err(`esmm demo: ${variants.length} models x ${nSeeds} seeds, ${rows.toLocaleString("en-US")} training impressions, ${jobs[0]!.epochs} epoch(s), ${workers || "no"} worker thread(s)`);
  const t0 = performance.now();
  const all = await runJobs(jobs, workers, throttledProgress(io, t0, 3000), (j, r) => io.err(`  ${j.variant} (seed ${j.seed}) done in ${fmtDuration(r.seconds)}`));
  const seconds = (performance.now() - t0) / 1000;
  // the first seed's models, in full; then every metric over the seeds
  const results = all.filter((_, i) => i % nSeeds === 0);
  io.out(`Test metrics, model seed ${seed0}:`);
  io.out(metricsTable(results.map((r) => ({ name: r.variant, metrics: r.test }))));
  const baseline = variants.includes("base") ? "base" : variants[0]!;
  const seedList = Array.from({ length: nSeeds }, (_, k) => seed0 + k);
  const comparison = nSeeds > 1 ? summarise(variants, variants.map((v) => PRESETS[v]), seedList, all, [baseline], { seeds: seedList.join(",") }) : null;
  if (comparison) {
    io.out(`\nOver ${nSeeds} model seeds (${seedList.join(", ")}; more seeds narrow the intervals: esmm compare --seeds N):`);
    io.out(compareTable({ ...comparison, models: comparison.models }, comparisonMetrics(comparison).filter((m) => m.key !== "ctcvrLogLoss")));
  }
  let abRows: ReturnType<typeof summariseArms> | null = null;
  if (sessions > 0) {
    const world = new AppStoreSimulator(sim);
    const ss = drawSessions(world, ab);
    const oracle = builtInArm("oracle", world, ss, ab, false, 0);
    const control = results.find((r) => r.variant === baseline)!;
    const arms = [control, ...results.filter((r) => r !== control)].map((r) => ({ name: r.variant, outcome: r.abtest! }));
    arms.push({ name: "popular", outcome: builtInArm("popular", world, ss, ab, false, 0) }, { name: "random", outcome: builtInArm("random", world, ss, ab, false, 0) }, { name: "oracle", outcome: oracle });
    abRows = summariseArms(arms, oracle, ab.top);
    io.out(`\nSimulated A/B test of the seed-${seed0} models: ${sessions.toLocaleString("en-US")} user sessions, ${ab.candidates} candidates each, the top ${ab.top} by pCTCVR shown; expected installs from the simulator's truth (esmm abtest runs it on saved models). The intervals are over sessions, for one trained model each; the comparison above gives installs per user over the seeds:`);
    io.out(abTable(abRows, ab));
  }
  const notes = observations(results);
  io.out("\n" + notes.map((n) => `- ${n}`).join("\n"));
  const speed = results.map((r) => `${r.variant} ${Math.round(r.epochs.reduce((s, e) => s + e.samplesPerSec, 0) / r.epochs.length)} rows/s`).join(", ");
  io.out(`\ntraining speed (one core each): ${speed}; wall time ${fmtDuration(seconds)}`);
  mkdirSync(outDir, { recursive: true });
  const meta = {
    "training impressions": rows,
    "validation / test impressions": `${jobs[0]!.validRows} / ${jobs[0]!.testRows}`,
    epochs: jobs[0]!.epochs,
    "batch, lr": `${jobs[0]!.batch}, ${jobs[0]!.lr}`,
    "simulator (seed, ctr, cvr, bias)": `${jobs[0]!.sim.seed}, ${jobs[0]!.sim.ctr}, ${jobs[0]!.sim.cvr}, ${jobs[0]!.sim.bias}`,
    vocabularies: vocabularyText(jobs[0]!.sim),
    "model seed": jobs[0]!.seed,
    "wall time": fmtDuration(seconds),
    "training speed": speed,
    node: process.version,
  };
  await writeFileAtomic(`${outDir}/report.html`, renderReport(results, meta, notes, comparison, abRows));
  const slim = (r: DemoResult): Omit<DemoResult, "abtest"> => {
    const { abtest: _a, ...rest } = r;
    return rest;
  };
  await writeFileAtomic(`${outDir}/results.json`, JSON.stringify({ meta, results: results.map(slim), comparison, abtest: abRows }, null, 1) + "\n");
  io.out(`report: ${outDir}/report.html (results: ${outDir}/results.json)`);
}

export const command: Command = { name: "demo", summary: "the main job (npm start): simulate, train esmm-mmoe, esmm and base over three seeds, compare them, run a simulated A/B test, write a report", ...DEMO_SPEC, run: demoCommand };
