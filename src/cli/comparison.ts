/**
 * What `esmm compare` and the demo report about models trained over seeds: the metrics, in order,
 * each model's per-seed values with their mean and std, and the paired difference against each
 * baseline (run s of every model uses seed s, so the pair shares its initialisation seed and its
 * shuffling); as plain-text tables here, as HTML in report.ts.
 */
import { meanOf, pairedDifference, sampleStd, type PairedDifference } from "../index.js";
import type { DemoResult, ModelSpec } from "./demo-run.js";
import { fixed4, signed4 } from "./format.js";

/** A metric a comparison reports: its key in the JSON, its label, and how to read it from one run. */
export interface CompareMetric {
  key: string;
  label: string;
  get: (r: DemoResult) => number | null;
  higherIsBetter: boolean;
}

/** What a comparison reports, in order: the four AUCs of the issue of record, then the log losses. */
export const COMPARE_METRICS: ReadonlyArray<CompareMetric> = [
  { key: "cvrAucEntireSpace", label: "CVR AUC, entire space (vs true pCVR)", get: (r) => r.test.truth?.cvrAucEntireSpace ?? null, higherIsBetter: true },
  { key: "cvrAuc", label: "CVR AUC on clicks", get: (r) => r.test.cvrAuc, higherIsBetter: true },
  { key: "ctcvrAuc", label: "CTCVR AUC", get: (r) => r.test.ctcvrAuc, higherIsBetter: true },
  { key: "ctrAuc", label: "CTR AUC", get: (r) => r.test.ctrAuc, higherIsBetter: true },
  { key: "ctcvrLogLoss", label: "CTCVR log loss", get: (r) => r.test.ctcvrLogLoss, higherIsBetter: false },
];

/**
 * With `esmm compare --sessions N`, each run also plays the simulated A/B test (the same sessions for
 * every model and seed): its expected installs per user, ranking by pCTCVR, become one more metric
 * with its spread and paired differences over seeds, as a model's seed moves its installs too.
 */
export const INSTALLS_METRIC: CompareMetric = {
  key: "installsPerUser",
  label: "installs per user, simulated A/B test (expected, top by pCTCVR)",
  get: (r) => (r.abtest ? meanOf(Array.from(r.abtest.installs)) : null),
  higherIsBetter: true,
};

/** The metrics `c` holds, in report order. */
export function comparisonMetrics(c: Comparison): ReadonlyArray<CompareMetric> {
  return c.models[0]?.metrics[INSTALLS_METRIC.key] ? [...COMPARE_METRICS, INSTALLS_METRIC] : COMPARE_METRICS;
}

export interface ModelSummary {
  name: string;
  spec: ModelSpec;
  /** Per metric: each seed's value, their mean and sample std, and the paired difference vs each baseline (null against itself). */
  metrics: Record<string, { values: number[]; mean: number; std: number; vs: Record<string, PairedDifference | null> }>;
  bestEpochs: number[];
  seconds: number;
}

export interface Comparison {
  baselines: string[];
  seeds: number[];
  setup: Record<string, string | number>;
  models: ModelSummary[];
}

/** Gathers per-seed results into summaries and paired differences against each of `baselines`. */
export function summarise(names: string[], specs: ModelSpec[], seeds: number[], results: DemoResult[], baselines: string[], setup: Comparison["setup"]): Comparison {
  const at = (mi: number, si: number): DemoResult => results[mi * seeds.length + si]!;
  const values = (mi: number, get: CompareMetric["get"]): number[] => seeds.map((_, si) => get(at(mi, si)) ?? Number.NaN);
  // installs per user where every run played the A/B test (compare with --sessions, the demo unless --sessions 0)
  const list = results.length > 0 && results.every((r) => r.abtest) ? [...COMPARE_METRICS, INSTALLS_METRIC] : COMPARE_METRICS;
  const models = names.map((name, mi) => {
    const metrics: ModelSummary["metrics"] = {};
    for (const m of list) {
      const v = values(mi, m.get);
      const vs: Record<string, PairedDifference | null> = {};
      for (const b of baselines) {
        const bi = names.indexOf(b);
        vs[b] = mi === bi ? null : pairedDifference(values(bi, m.get), v);
      }
      metrics[m.key] = { values: v, mean: meanOf(v), std: sampleStd(v), vs };
    }
    return { name, spec: specs[mi]!, metrics, bestEpochs: seeds.map((_, si) => at(mi, si).bestEpoch + 1), seconds: seeds.reduce((s, _, si) => s + at(mi, si).seconds, 0) };
  });
  return { baselines, seeds, setup, models };
}


/** "1 seed", "5 seeds". */
export const seedsText = (n: number): string => `${n} seed${n === 1 ? "" : "s"}`;

/** A std over the seeds, or "-" where there is one seed and so no spread to show (sampleStd gives 0). */
export const stdText = (c: Comparison, std: number): string => (c.seeds.length < 2 ? "-" : fixed4(std));

/** The plain-text tables: one block per metric, a row per model. */
export function compareTable(c: Comparison, metrics = comparisonMetrics(c)): string {
  const out: string[] = [];
  const w = Math.max(8, ...c.models.map((m) => m.name.length));
  for (const metric of metrics) {
    out.push(`${metric.label} (${seedsText(c.seeds.length)}; ${metric.higherIsBetter ? "higher" : "lower"} is better)`);
    const cell = 32;
    out.push(`  ${"model".padEnd(w)}  ${"mean".padStart(7)}  ${"std".padStart(6)}  ${c.baselines.map((b) => `vs ${b} (paired, 95%)`.padEnd(cell)).join("  ")}`.trimEnd());
    for (const m of c.models) {
      const s = m.metrics[metric.key]!;
      const cells = c.baselines.map((b) => {
        const d = s.vs[b];
        return (d ? `${signed4(d.mean)} [${signed4(d.lo)}, ${signed4(d.hi)}]${d.lo > 0 ? " >" : d.hi < 0 ? " <" : ""}` : "(baseline)").padEnd(cell);
      });
      out.push(`  ${m.name.padEnd(w)}  ${fixed4(s.mean).padStart(7)}  ${stdText(c, s.std).padStart(6)}  ${cells.join("  ")}`.trimEnd());
    }
    out.push("");
  }
  return out.join("\n");
}
