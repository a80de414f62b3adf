/**
 * The simulator's options, shared by `esmm generate`, `esmm compare`, `esmm abtest` and `esmm demo`: one
 * spec, one parser, so the commands cannot drift apart in names, defaults or checks. The rates shape
 * the impressions; `--users` and `--apps` size the world, and so how often each id is seen in a file
 * of a given length (a world of 200,000 users seen in 100,000 impressions is as sparse as a real log).
 */
import { UsageError, int, num, type OptionSpec, type Parsed } from "./args.js";

export function simulatorRateOptions(): Record<string, OptionSpec> {
  return {
    ctr: { type: "string", help: "target click rate of the simulator (default 0.05)" },
    cvr: { type: "string", help: "target conversion rate after a click (default 0.12)" },
    bias: { type: "string", help: "strength of the selection-bias drivers (default 1; 0 turns them off)" },
    users: { type: "string", help: "number of users in the simulated world (default 20000)" },
    apps: { type: "string", help: "number of apps in the simulated world (default 4000)" },
  };
}

/** The rates and the world's size, as AppStoreSimulator takes them. */
export function simulatorRates(p: Parsed): { ctr: number; cvr: number; bias: number; users: number; apps: number } {
  return {
    ctr: num(p, "ctr", 0.05, (x) => x > 0 && x < 1, "in (0, 1)"),
    cvr: num(p, "cvr", 0.12, (x) => x > 0 && x < 1, "in (0, 1)"),
    bias: num(p, "bias", 1, (x) => x >= 0, ">= 0"),
    users: int(p, "users", 20_000, 1),
    apps: int(p, "apps", 4_000, 1),
  };
}

/**
 * How a model trained on simulated data gets its vocabularies (`esmm compare`, `esmm demo`): fitted on
 * the training rows by default, as `esmm train` fits them on a file, or the world's ids (see
 * `IdVocabulary` and DemoJob's `sim.vocab`).
 */
export function simulatorVocabOptions(): Record<string, OptionSpec> {
  return {
    vocab: { type: "string", help: "simulated data: fitted (the ids the training rows hold, the others out-of-vocabulary, as esmm train fits a file; default) or world (a row for every id of the world, trained or not: how comparisons ran before 2026-12-08)" },
    "min-count": { type: "string", help: "keep ids seen at least this often in the training rows, else out-of-vocabulary (default 1; simulated data with --vocab fitted, or --train)" },
  };
}

/** The vocabulary settings of simulated data, as DemoJob's `sim` takes them. */
export function simulatorVocab(p: Parsed): { vocab: "fitted" | "world"; minCount: number } {
  const vocab = p.vocab ?? "fitted";
  if (vocab !== "fitted" && vocab !== "world") throw new UsageError(`--vocab must be fitted or world, got "${String(vocab)}"`);
  return { vocab, minCount: int(p, "min-count", 1, 1) };
}

/** How a run's setup names its vocabularies: "world", or "fitted (min count N)". */
export function vocabularyText(sim: { vocab?: "fitted" | "world"; minCount?: number }): string {
  return sim.vocab === "world" ? "world" : `fitted (min count ${sim.minCount ?? 1})`;
}
