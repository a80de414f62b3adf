/**
 * `esmm abtest`: a simulated A/B test of the feed (src/data/abtest.ts). Arms are checkpoints (scored
 * through their own vocabularies, with the columns `esmm generate` writes) or the built-in oracle,
 * popular and random rankers; every arm sees the same sessions and candidates.
 */
import { basename } from "node:path";
import {
  AB_RANK_BY,
  AppStoreSimulator,
  DENSE_FEATURES,
  MULTI_FIELDS,
  SINGLE_FIELDS,
  drawSessions,
  oracleOrder,
  playArm,
  playModel,
  popularOrder,
  randomOrderer,
  scoreSessions,
  summariseArms,
  type AbRankBy,
  type AbSession,
  type AbSettings,
  type ArmOutcome,
  type ArmSummary,
  type ScoringModel,
  simulatorOptionsFromJSON,
  type SimulatorOptions,
} from "../../index.js";
import { loadCheckpoint, scoringModelOf } from "../../node/index.js";
import { UsageError, int, many, str, type Parsed } from "../args.js";
import { signedPct } from "../format.js";
import type { Command, Io } from "../io.js";
import { simulatorRateOptions, simulatorRates } from "../sim-options.js";

const BUILT_IN = ["oracle", "popular", "random"] as const;
/** The columns of the simulator's candidate records: what a model arm may read. */
const SIM_COLUMNS: readonly string[] = [...SINGLE_FIELDS, ...MULTI_FIELDS, ...DENSE_FEATURES];

/** The seed of arm i's sampled outcomes (each arm draws its own coins), or undefined without sampling. */
function sampleSeedOf(o: AbSettings, sampled: boolean, armIndex: number): number | undefined {
  return sampled ? o.seed * 1000 + armIndex : undefined;
}

/** The built-in arms' outcomes. */
export function builtInArm(kind: (typeof BUILT_IN)[number], sim: AppStoreSimulator, sessions: readonly AbSession[], o: AbSettings, sampled: boolean, armIndex: number): ArmOutcome {
  const sampleSeed = sampleSeedOf(o, sampled, armIndex);
  if (kind === "oracle") return playArm(sim, sessions, (s) => oracleOrder(sim, s, o.top), o.top, sampleSeed);
  if (kind === "popular") return playArm(sim, sessions, (s) => popularOrder(s, o.top), o.top, sampleSeed);
  const order = randomOrderer(o.seed + 1);
  return playArm(sim, sessions, (s) => order(s).slice(0, o.top), o.top, sampleSeed);
}


/** The plain-text table of a test. */
export function abTable(rows: readonly ArmSummary[], o: AbSettings): string {
  const w = Math.max(6, ...rows.map((r) => r.name.length));
  const head = ["arm".padEnd(w), "installs/user", "clicks/user", "inst/1k imp", "value/user", `NDCG@${o.top}`, `lift vs ${rows[0]!.name} [95%]`.padEnd(30), "of oracle"];
  const out = [head.join("  ")];
  for (const r of rows) {
    const lift = r.lift ? `${signedPct(r.lift.pct)} [${signedPct(r.lift.lo)}, ${signedPct(r.lift.hi)}]` : "(control)";
    out.push([r.name.padEnd(w), r.installsPerUser.toFixed(5).padStart(13), r.clicksPerUser.toFixed(4).padStart(11), r.installsPer1000Impressions.toFixed(3).padStart(11), r.valuePerUser.toFixed(5).padStart(10), r.ndcg.toFixed(4).padStart(`NDCG@${o.top}`.length), lift.padEnd(30), `${(100 * r.oracleShare).toFixed(1)}%`.padStart(9)].join("  "));
  }
  if (rows[0]!.sampled) {
    out.push("", "sampled outcomes (clicks and installs drawn, as a live test would see them):");
    for (const r of rows) {
      const s = r.sampled!;
      out.push(`  ${r.name.padEnd(w)}  ${s.installsPerUser.toFixed(5)} installs/user  ${s.lift ? `lift ${signedPct(s.lift.pct)} [${signedPct(s.lift.lo)}, ${signedPct(s.lift.hi)}]` : "(control)"}`);
    }
  }
  return out.join("\n");
}

/** The flags that set the simulated world, by the key of SimulatorOptions each sets. */
const WORLD_FLAGS = { seed: "sim-seed", ctr: "ctr", cvr: "cvr", bias: "bias", users: "users", apps: "apps" } as const;

/**
 * The world the test plays: the one the checkpoints were trained on, where `esmm train` recorded it
 * from a generated file's sidecar, else the flags' (their defaults where not given). A flag that
 * contradicts a checkpoint's world, or two checkpoints of different worlds, are errors: a model
 * tested on users and apps it was never trained on gives figures that look plausible and mean nothing.
 */
function worldOf(p: Parsed, plan: ReadonlyArray<{ name: string; world: Required<SimulatorOptions> | null }>): { world: SimulatorOptions; from: string | null } {
  const flags: SimulatorOptions = { seed: int(p, "sim-seed", 7), ...simulatorRates(p) };
  const recorded = plan.filter((a) => a.world !== null) as Array<{ name: string; world: Required<SimulatorOptions> }>;
  if (recorded.length === 0) return { world: flags, from: null };
  const first = recorded[0]!;
  const show = (w: Required<SimulatorOptions>): string => (Object.keys(WORLD_FLAGS) as Array<keyof typeof WORLD_FLAGS>).map((k) => `--${WORLD_FLAGS[k]} ${w[k]}`).join(" ");
  for (const a of recorded.slice(1)) {
    if (JSON.stringify(a.world) !== JSON.stringify(first.world)) throw new UsageError(`arms ${first.name} and ${a.name} were trained on different simulated worlds (${show(first.world)}; ${show(a.world)}): an A/B test plays one world, so test models of the same one`);
  }
  for (const [k, flag] of Object.entries(WORLD_FLAGS) as Array<[keyof typeof WORLD_FLAGS, string]>) {
    if (p[flag] !== undefined && flags[k] !== first.world[k]) throw new UsageError(`--${flag} ${flags[k]} contradicts the world arm ${first.name} was trained on (${show(first.world)}, from its training file's sidecar); leave the world's flags out to play that world`);
  }
  return { world: first.world, from: `the world ${recorded.map((a) => a.name).join(", ")} ${recorded.length > 1 ? "were" : "was"} trained on: ${show(first.world)}` };
}

async function abtestCommand(p: Parsed, io: Io): Promise<void> {
  const specs = many(p, "arm");
  if (specs.length < 1) throw new UsageError("--arm is required: NAME=CHECKPOINT_DIR, a directory, or one of oracle, popular, random (repeat it for each arm)");
  const o: AbSettings = { sessions: int(p, "sessions", 20_000, 1), candidates: int(p, "candidates", 50, 1), top: int(p, "top", 10, 1), seed: int(p, "seed", 1) };
  if (o.top > Math.min(o.candidates, 20)) throw new UsageError(`--top must be at most --candidates and 20 (the simulator's positions), got ${o.top}`);
  const by = (str(p, "rank-by") ?? "pCtcvr") as AbRankBy;
  if (!AB_RANK_BY.includes(by)) throw new UsageError(`--rank-by must be one of ${AB_RANK_BY.join(", ")}, got "${by}"`);
  const sampled = p.sampled === true;
  // every arm checked, and every checkpoint loaded, before any arm plays (a bad one fails at once)
  const names = new Set<string>();
  const plan: Array<{ name: string; target: string; model: ScoringModel | null; world: Required<SimulatorOptions> | null }> = [];
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const target = eq >= 0 ? spec.slice(eq + 1) : spec;
    const name = eq >= 0 ? spec.slice(0, eq) : (BUILT_IN as readonly string[]).includes(spec) ? spec : basename(spec.replace(/\/+$/, "")) || spec;
    if (!name || !target) throw new UsageError(`--arm "${spec}": expected NAME=CHECKPOINT_DIR, a directory, or one of ${BUILT_IN.join(", ")}`);
    if (names.has(name)) throw new UsageError(`--arm: two arms are named "${name}"`);
    names.add(name);
    if ((BUILT_IN as readonly string[]).includes(target)) plan.push({ name, target, model: null, world: null });
    else {
      const ck = await loadCheckpoint(target, { optimizer: false });
      const w = ck.json.training?.simulated;
      const model = scoringModelOf(ck, target);
      // the candidates carry the columns esmm generate writes, and nothing else
      const c = model.columns;
      const foreign = [...c.categorical, ...c.multi, ...c.dense].filter((col) => !SIM_COLUMNS.includes(col));
      if (foreign.length) throw new UsageError(`--arm ${spec}: the model reads columns the simulated app store does not have (${foreign.slice(0, 5).join(", ")}${foreign.length > 5 ? `, and ${foreign.length - 5} more` : ""}); esmm abtest tests models trained on files esmm generate wrote`);
      plan.push({ name, target, model, world: w === undefined ? null : simulatorOptionsFromJSON(w, `${target}: training.simulated`) });
    }
  }
  const world = worldOf(p, plan);
  const sim = new AppStoreSimulator(world.world);
  if (o.candidates > sim.size.apps) throw new UsageError(`--candidates ${o.candidates} exceeds the simulator's ${sim.size.apps} apps`);
  const sessions = drawSessions(sim, o);
  io.err(`esmm abtest: ${o.sessions.toLocaleString("en-US")} sessions, ${o.candidates} candidates each, top ${o.top} shown, ranked by ${by}${world.from ? `, in ${world.from}` : ""}`);
  const arms: Array<{ name: string; outcome: ArmOutcome }> = [];
  let oracleOutcome: ArmOutcome | null = null;
  for (const [i, { name, target, model }] of plan.entries()) {
    const t0 = performance.now();
    let outcome: ArmOutcome;
    if (!model) {
      outcome = builtInArm(target as (typeof BUILT_IN)[number], sim, sessions, o, sampled, i);
      if (target === "oracle") oracleOutcome = outcome;
    }
    else {
      const scores = scoreSessions(sessions, (chunk) => {
        const recs = chunk.flatMap((s) => sim.candidateRecords(s.user, Array.from(s.candidates), { hour: s.hour, page: s.page, position: 0 }));
        const r = model.scoreSync(recs);
        return { pCtr: r.map((x) => x.pCtr), pCvr: r.map((x) => x.pCvr), pCtcvr: r.map((x) => x.pCtcvr) };
      });
      outcome = playModel(sim, sessions, scores, by, o.top, sampleSeedOf(o, sampled, i));
    }
    arms.push({ name, outcome });
    io.err(`  ${name}: ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
  // the oracle's installs are the denominator of every arm's share, whether or not it is an arm
  const oracle = oracleOutcome ?? builtInArm("oracle", sim, sessions, o, false, -1);
  const rows = summariseArms(arms, oracle, o.top);
  if (p.json) {
    io.out(JSON.stringify({ settings: { ...o, rankBy: by, sampled, simulator: sim.options }, arms: rows }, null, 2));
    return;
  }
  io.out(abTable(rows, o));
}

export const command: Command = {
  name: "abtest",
  summary: "a simulated A/B test of the ranked feed: expected installs per user, arm against arm, with paired intervals",
  usage: "esmm abtest --arm A=model_a/ --arm B=model_b/ [--arm oracle] [--sessions 20000] [--candidates 50] [--top 10] [--seed S] [--json]",
  options: {
    arm: { type: "repeat", help: "an arm: NAME=CHECKPOINT_DIR, a checkpoint directory, or oracle / popular / random; repeat for each (the first is the control)" },
    sessions: { type: "string", help: "user sessions drawn from the simulated traffic (default 20000)" },
    candidates: { type: "string", help: "candidate apps retrieved per session (default 50)" },
    top: { type: "string", help: "apps shown per session, at positions 1..K (default 10, at most 20)" },
    seed: { type: "string", help: "seed of the sessions (and of the random arm and sampled outcomes; default 1)" },
    "rank-by": { type: "string", help: `what model arms rank by: ${AB_RANK_BY.join(", ")} (value: pCTCVR x the install's value; default pCtcvr)` },
    sampled: { type: "flag", help: "also draw every shown slot's click and install, to show the noise a live test would have" },
    "sim-seed": { type: "string", help: "the simulated world's seed (default 7). A checkpoint trained on a file esmm generate wrote knows its world, which is then the default, and these flags may only restate it" },
    ...simulatorRateOptions(),
    json: { type: "flag", help: "print the settings and every arm's figures as one JSON object" },
  },
  run: abtestCommand,
};
