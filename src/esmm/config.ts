/** The model's configuration: what a checkpoint's model.json stores, with defaults filled in. */
import type { BagMode } from "../autograd/index.js";
import { DEFAULT_EMBEDDING_INIT, type EmbeddingInit } from "../layers/index.js";
import { FieldError, expectArray, expectFloat, expectInt, expectObject, expectOneOf, expectString } from "./validate.js";

/**
 * A model is two choices. The **bottom** is the network under the two task heads:
 * - `mmoe`: shared embeddings -> E expert MLPs -> one softmax gate per task -> a CTR and a CVR tower;
 * - `shared`: shared embeddings, then one MLP per task (the ESMM paper's nets);
 * - `separate`: each task its own embeddings and its own MLP (the paper's BASE: nothing is shared).
 * The **objective** is the loss (src/esmm/objectives.ts holds each one):
 * - `entire-space`: ESMM's BCE(pCTR, click) + BCE(pCTR x pCVR, click AND conversion), all impressions;
 * - `clicked`: BCE(pCTR, click) + BCE(pCVR, conversion) over clicked impressions only (biased);
 * - `escm2-ips`, `escm2-dr`: entire-space plus ESCM2's counterfactual CVR risk (inverse propensity
 *   scoring, doubly robust), with pCTR as the propensity.
 */
export type Bottom = "mmoe" | "shared" | "separate";
/** Every `Bottom`. */
export const BOTTOMS: readonly Bottom[] = ["mmoe", "shared", "separate"];
/** The name of an objective: a row of `OBJECTIVES` (see `Bottom` above for each). */
export type ObjectiveName = "entire-space" | "clicked" | "escm2-ips" | "escm2-dr";
/** Every `ObjectiveName`. */
export const OBJECTIVE_NAMES: readonly ObjectiveName[] = ["entire-space", "clicked", "escm2-ips", "escm2-dr"];

/**
 * Named pairs of a bottom and an objective: the models of the papers.
 * - `esmm-mmoe`: this project's flagship, ESMM over a two-expert, two-gate bottom;
 * - `esmm`: the ESMM paper's model;
 * - `base`: the ESMM paper's BASE: a CVR net with its own embeddings trained on clicked rows only
 *   (beside a CTR net that shares nothing with it);
 * - `base-shared`: the clicked-only CVR loss on embeddings shared with the CTR net (what `base` meant
 *   in checkpoints of format 1 and 2): the CVR net enjoys ESMM's feature transfer, not its loss;
 * - `escm2-ips`, `escm2-dr`: ESCM2 (Wang et al., SIGIR 2022) on the ESMM paper's nets.
 */
export type Preset = "esmm-mmoe" | "esmm" | "base" | "base-shared" | "escm2-ips" | "escm2-dr";
/** Each preset's bottom and objective. */
export const PRESETS: Readonly<Record<Preset, { bottom: Bottom; objective: ObjectiveName }>> = {
  "esmm-mmoe": { bottom: "mmoe", objective: "entire-space" },
  esmm: { bottom: "shared", objective: "entire-space" },
  base: { bottom: "separate", objective: "clicked" },
  "base-shared": { bottom: "shared", objective: "clicked" },
  "escm2-ips": { bottom: "shared", objective: "escm2-ips" },
  "escm2-dr": { bottom: "shared", objective: "escm2-dr" },
};
/** Every `Preset`. */
export const PRESET_NAMES = Object.keys(PRESETS) as Preset[];

/** The name a model goes by: its preset's where it has one, else "bottom/objective". */
export function modelName(c: { bottom: Bottom; objective: ObjectiveName }): string {
  const hit = PRESET_NAMES.find((p) => PRESETS[p].bottom === c.bottom && PRESETS[p].objective === c.objective);
  return hit ?? `${c.bottom}/${c.objective}`;
}

/** What `variant` meant in checkpoints of format 1 and 2 (before bottoms and objectives). */
export const LEGACY_VARIANTS: Readonly<Record<string, { bottom: Bottom; objective: ObjectiveName }>> = {
  "esmm-mmoe": PRESETS["esmm-mmoe"],
  esmm: PRESETS.esmm,
  base: PRESETS["base-shared"],
};

/**
 * ESCM2's counterfactual CVR risk weighs each clicked row by 1 / pCTR (the propensity of its click).
 * - `clip`: pCTR is clipped from below before dividing, so no weight exceeds 1 / clip. A larger clip
 *   lowers the variance (fewer huge weights from rare clicks) and adds bias (rows with pCTR < clip
 *   count less than they should).
 * - `normalize`: divide the weighted sum by the batch's sum of weights (self-normalised IPS) instead
 *   of by the batch size: biased for small batches, much lower variance; not supported with threads
 *   (the normaliser needs every shard's pCTR).
 */
export interface CounterfactualConfig {
  clip: number;
  normalize: boolean;
}

/** One categorical field of the model input. */
export interface FieldSpec {
  name: string;
  /** Rows of the embedding table (including any out-of-vocabulary row). */
  vocab: number;
  /** single: one id per row (default); multi: a bag of ids pooled by `pooling`. */
  kind?: "single" | "multi";
  pooling?: BagMode;
}

/** The model's configuration: what a checkpoint's model.json stores, with defaults filled in (see `resolveConfig`). */
export interface EsmmConfig {
  bottom: Bottom;
  objective: ObjectiveName;
  /** The ESCM2 objectives' propensity weighting (unused by the others). */
  counterfactual: CounterfactualConfig;
  fields: FieldSpec[];
  /** Names of dense numeric features, standardised with `denseMean` / `denseStd`. */
  dense: string[];
  denseMean: number[];
  denseStd: number[];
  /** Embedding width D. */
  dim: number;
  /**
   * The mmoe bottom's experts: how many, their hidden sizes, and two remedies for a task that
   * starves on shared experts (docs/results.md measures them):
   * - `share`: "all" (MMoE: every task's gradient trains every expert), "owned" (expert e is
   *   trained by task e mod 2 only, ctr = 0, cvr = 1; the other task reads it through its gate but
   *   sends it no gradient, so Adam scales each expert's updates by its own task's gradients), or
   *   "cgc" (as CGC/PLE: experts 0 and 1 owned as above, experts 2 and up shared, trained by both);
   * - `gatePrior`: at initialisation, each task's gate favours its own experts (e mod 2 = task) by
   *   this logit (0: every expert weighs 1/E to start).
   * - `dropout`: while training, each expert's output is dropped for a row with this probability (and
   *   the kept ones scaled by 1 / (1 - p)), so no task can lean on one expert alone; 0 (the default)
   *   turns it off, and scoring never drops.
   * The defaults (owned, 3) were chosen by measurement, over 5 seeds (docs/results.md); plain MMoE is
   * `{ share: "all", gatePrior: 0 }`, what checkpoints of format 1 and 2 were trained as.
   */
  experts: { count: number; hidden: number[]; share: ExpertShare; gatePrior: number; dropout: number };
  /**
   * The towers' hidden sizes: `hidden` for the CTR tower (and ESCM2-DR's imputation tower), `cvr`
   * for the CVR tower. `cvr` defaults to `hidden` where `hidden` is given, and otherwise to [64] but
   * for the mmoe bottom, whose CVR tower is [128, 64]: one layer deeper than its CTR tower, which
   * gave it a CVR AUC at least esmm's in every regime measured (docs/results.md, "A deeper CVR
   * tower"; esmm's CVR net gains as much from the same layer).
   */
  towers: { hidden: number[]; cvr: number[] };
  embeddingInit: EmbeddingInit;
  seed: number;
}

/** What `new Esmm(...)` takes: the fields, and any other setting of `EsmmConfig` (or a preset) to override its default. */
export type EsmmConfigInput = Partial<Omit<EsmmConfig, "fields" | "experts" | "towers" | "counterfactual">> & {
  fields: FieldSpec[];
  /** A preset: fills `bottom` and `objective` where they are not given (default esmm-mmoe). */
  preset?: Preset;
  counterfactual?: Partial<CounterfactualConfig>;
  experts?: Partial<EsmmConfig["experts"]>;
  towers?: Partial<EsmmConfig["towers"]>;
};

/**
 * Sane bounds on every size, so that a crafted config fails with a message instead of asking for
 * gigabytes: ids are int32, and no layer of a recommendation model here is wider than 65,536.
 */
export const CONFIG_LIMITS = {
  fields: 4096,
  dense: 4096,
  vocab: 2 ** 31 - 1,
  dim: 4096,
  experts: 256,
  layers: 32,
  width: 65_536,
  /** Parameters in all (float32): 2^31 is 8 GiB of weights. */
  parameters: 2 ** 31,
};

/** The mmoe bottom's default remedies (see EsmmConfig.experts). */
export type ExpertShare = "all" | "owned" | "cgc";
/** Every `ExpertShare`. */
export const EXPERT_SHARES: readonly ExpertShare[] = ["all", "owned", "cgc"];
/** The mmoe bottom's defaults: how many experts, and its remedies (see `EsmmConfig.experts`). */
export const DEFAULT_EXPERTS = { count: 2, share: "owned" as ExpertShare, gatePrior: 3 };
/** The towers' hidden sizes unless a config says otherwise: the CTR tower's, and the mmoe bottom's CVR tower's (see EsmmConfig.towers). */
export const DEFAULT_TOWERS = { hidden: [64], mmoeCvr: [128, 64] };

const KNOWN_KEYS = new Set(["preset", "bottom", "objective", "counterfactual", "fields", "dense", "denseMean", "denseStd", "dim", "experts", "towers", "embeddingInit", "seed", "variant"]);

/**
 * Fills defaults (E = 2 experts of 256 -> 128, towers 128 -> 64 -> 1 and, for the mmoe bottom's CVR
 * tower, 128 -> 128 -> 64 -> 1, D = 16) and validates every
 * field by type and range; errors name the field ("config.fields[2].vocab: ..."). Accepts untrusted
 * input (a model.json): nothing is allocated here.
 */
export function resolveConfig(cIn: EsmmConfigInput): EsmmConfig {
  const L = CONFIG_LIMITS;
  const c = expectObject(cIn, "config") as Record<string, unknown>;
  const opt = <T>(v: unknown, fallback: T): unknown => (v === undefined ? fallback : v);
  const fields = expectArray(c.fields, "config.fields", L.fields).map((fIn, i) => {
    const at = `config.fields[${i}]`;
    const f = expectObject(fIn, at);
    const name = expectString(f.name, `${at}.name`);
    if (!name || /[.\s]/.test(name)) throw new FieldError(`${at}.name`, `"${name}" must be non-empty without dots or spaces`);
    return {
      name,
      vocab: expectInt(f.vocab, `${at}.vocab`, 1, L.vocab),
      kind: expectOneOf(opt(f.kind, "single"), `${at}.kind`, ["single", "multi"] as const),
      pooling: expectOneOf(opt(f.pooling, "mean"), `${at}.pooling`, ["sum", "mean"] as const),
    };
  });
  const dense = expectArray(opt(c.dense, []), "config.dense", L.dense).map((d, i) => expectString(d, `config.dense[${i}]`));
  const floats = (v: unknown, what: string, positive: boolean): number[] => {
    const a = expectArray(v, what, L.dense).map((x, i) => expectFloat(x, `${what}[${i}]`, { positive }));
    if (a.length !== dense.length) throw new FieldError(what, `has ${a.length} entries for ${dense.length} dense features`);
    return a;
  };
  const experts = expectObject(opt(c.experts, {}), "config.experts");
  const towers = expectObject(opt(c.towers, {}), "config.towers");
  const widths = (v: unknown, what: string, min: number): number[] => {
    const a = expectArray(v, what, L.layers).map((h, i) => expectInt(h, `${what}[${i}]`, 1, L.width));
    if (a.length < min) throw new FieldError(what, `needs at least ${min} size(s)`);
    return a;
  };
  if (c.variant !== undefined) throw new FieldError("config.variant", `is gone: name a preset (config.preset, one of ${PRESET_NAMES.join(", ")}) or a bottom and an objective; checkpoints of format 1 and 2 are converted on load`);
  for (const k of Object.keys(c)) if (!KNOWN_KEYS.has(k)) throw new FieldError(`config.${k}`, "is not a setting of this model");
  const init = expectObject(opt(c.embeddingInit, DEFAULT_EMBEDDING_INIT), "config.embeddingInit");
  const preset = PRESETS[expectOneOf(opt(c.preset, "esmm-mmoe"), "config.preset", PRESET_NAMES)];
  const cf = expectObject(opt(c.counterfactual, {}), "config.counterfactual");
  const normalize = opt(cf.normalize, false);
  if (typeof normalize !== "boolean") throw new FieldError("config.counterfactual.normalize", `must be true or false, got ${JSON.stringify(normalize)}`);
  const bottom = expectOneOf(opt(c.bottom, preset.bottom), "config.bottom", BOTTOMS);
  const towerHidden = widths(opt(towers.hidden, DEFAULT_TOWERS.hidden), "config.towers.hidden", 0);
  const cvrDefault = towers.hidden === undefined && bottom === "mmoe" ? DEFAULT_TOWERS.mmoeCvr : towerHidden;
  const cfg: EsmmConfig = {
    bottom,
    objective: expectOneOf(opt(c.objective, preset.objective), "config.objective", OBJECTIVE_NAMES),
    counterfactual: { clip: expectFloat(opt(cf.clip, 0.05), "config.counterfactual.clip", { min: 1e-6, max: 1 }), normalize },
    fields,
    dense,
    denseMean: floats(opt(c.denseMean, dense.map(() => 0)), "config.denseMean", false),
    denseStd: floats(opt(c.denseStd, dense.map(() => 1)), "config.denseStd", true),
    dim: expectInt(opt(c.dim, 16), "config.dim", 1, L.dim),
    experts: {
      count: expectInt(opt(experts.count, DEFAULT_EXPERTS.count), "config.experts.count", 1, L.experts),
      hidden: widths(opt(experts.hidden, [256, 128]), "config.experts.hidden", 1),
      share: expectOneOf(opt(experts.share, DEFAULT_EXPERTS.share), "config.experts.share", EXPERT_SHARES),
      gatePrior: expectFloat(opt(experts.gatePrior, DEFAULT_EXPERTS.gatePrior), "config.experts.gatePrior", { min: -20, max: 20 }),
      dropout: expectFloat(opt(experts.dropout, 0), "config.experts.dropout", { min: 0, max: 0.9 }),
    },
    towers: { hidden: towerHidden, cvr: widths(opt(towers.cvr, cvrDefault), "config.towers.cvr", 0) },
    embeddingInit: { kind: expectOneOf(opt(init.kind, "normal"), "config.embeddingInit.kind", ["normal"] as const), std: expectFloat(init.std, "config.embeddingInit.std", { min: 0 }) },
    seed: expectInt(opt(c.seed, 1), "config.seed", -(2 ** 53), 2 ** 53),
  };
  if (cfg.fields.length === 0 && cfg.dense.length === 0) throw new FieldError("config.fields", "needs at least one field or dense feature");
  const names = new Set<string>();
  cfg.fields.forEach((f, i) => {
    if (names.has(f.name)) throw new FieldError(`config.fields[${i}].name`, `field "${f.name}" appears twice`);
    names.add(f.name);
  });
  const n = parameterCount(cfg);
  if (n > L.parameters) throw new FieldError("config", `describes ${n.toExponential(3)} parameters, more than the ${L.parameters.toExponential(3)} allowed`);
  return cfg;
}

/** Whether an mmoe bottom's experts all belong to the CTR task: one expert, shared only by "owned" or "cgc" (see EsmmConfig.experts). */
export function ctrOwnsEveryExpert(experts: { count: number; share: ExpertShare }): boolean {
  return experts.share !== "all" && experts.count < 2;
}

/**
 * Refuses a config a new model could not train as meant, though each setting is valid alone: one
 * expert that only the CTR task trains (share "owned" or "cgc") would leave the CVR task no path into
 * the bottom or the embeddings. `new Esmm` checks it for a model it draws (a loaded one may hold it).
 */
export function assertTrainable(cfg: EsmmConfig): void {
  if (cfg.bottom === "mmoe" && ctrOwnsEveryExpert(cfg.experts)) {
    throw new FieldError("config.experts.count", `is ${cfg.experts.count} with share "${cfg.experts.share}", which gives expert 0 to the ctr task alone, so the cvr task's gradient would never reach the bottom or the embeddings; use 2 or more experts, or share "all" (one expert both tasks train)`);
  }
}

/** Width of the model input: D per field (single or pooled bag) plus the dense features. */
export function inputWidth(cfg: EsmmConfig): number {
  return cfg.fields.length * cfg.dim + cfg.dense.length;
}

/**
 * A tower's layer sizes, from its input to its logit: on the mmoe bottom from the experts' mix, on the
 * others from the model input through the task's own MLP (as deep as expert + tower). `hidden` is
 * `towers.hidden` (the CTR and imputation towers) or `towers.cvr` (the CVR tower).
 */
export function towerSizes(cfg: EsmmConfig, hidden: readonly number[]): number[] {
  const eh = cfg.experts.hidden;
  const from = cfg.bottom === "mmoe" ? [eh[eh.length - 1]!] : [inputWidth(cfg), ...eh];
  return [...from, ...hidden, 1];
}

/** Weights and biases of an MLP with layer sizes [I, H1, ..., O]. */
function mlpParameters(sizes: readonly number[]): number {
  let n = 0;
  for (let l = 0; l + 1 < sizes.length; l++) n += sizes[l]! * sizes[l + 1]! + sizes[l + 1]!;
  return n;
}

/**
 * How many float32 parameters a model of this config has, computed from the sizes alone (no
 * allocation), so a checkpoint's config can be held against its weights file before the model is
 * built. Mirrors the constructor of Esmm; a test holds the two together for every variant.
 */
export function parameterCount(cfg: EsmmConfig): number {
  const width = inputWidth(cfg);
  const eh = cfg.experts.hidden;
  let n = cfg.fields.reduce((s, f) => s + f.vocab * cfg.dim, 0);
  if (cfg.bottom === "separate") n *= 2; // a second set of tables for the CVR net
  const towers = hasImputation(cfg) ? 3 : 2;
  if (cfg.bottom === "mmoe") {
    const E = cfg.experts.count;
    n += E * mlpParameters([width, ...eh]);
    n += 2 * (width * E + E);
  }
  return n + (towers - 1) * mlpParameters(towerSizes(cfg, cfg.towers.hidden)) + mlpParameters(towerSizes(cfg, cfg.towers.cvr));
}

/** Whether the objective needs ESCM2-DR's imputation tower (a third tower, beside the CVR tower). */
export function hasImputation(cfg: Pick<EsmmConfig, "objective">): boolean {
  return cfg.objective === "escm2-dr";
}
