/** The model's configuration: what a checkpoint's model.json stores, with defaults filled in. */
import type { BagMode } from "../autograd/index.js";
import { DEFAULT_EMBEDDING_INIT, type EmbeddingInit } from "../layers/index.js";
import { FieldError, expectArray, expectFloat, expectInt, expectObject, expectOneOf, expectString } from "./validate.js";

/**
 * - `esmm-mmoe`: shared embeddings -> E expert MLPs -> one softmax gate per task -> CTR / CVR towers.
 * - `esmm`: the paper's own: shared embeddings, a CTR MLP and a CVR MLP, no experts.
 * - `base`: the paper's BASE: the same nets as `esmm`, but the CVR net is trained on clicked
 *   impressions only (and so inherits sample selection bias).
 */
export type Variant = "esmm-mmoe" | "esmm" | "base";
export const VARIANTS: readonly Variant[] = ["esmm-mmoe", "esmm", "base"];

export interface FieldSpec {
  name: string;
  /** Rows of the embedding table (including any out-of-vocabulary row). */
  vocab: number;
  /** single: one id per row (default); multi: a bag of ids pooled by `pooling`. */
  kind?: "single" | "multi";
  pooling?: BagMode;
}

export interface EsmmConfig {
  variant: Variant;
  fields: FieldSpec[];
  /** Names of dense numeric features, standardised with `denseMean` / `denseStd`. */
  dense: string[];
  denseMean: number[];
  denseStd: number[];
  /** Embedding width D. */
  dim: number;
  experts: { count: number; hidden: number[] };
  towers: { hidden: number[] };
  embeddingInit: EmbeddingInit;
  seed: number;
}

export type EsmmConfigInput = Partial<Omit<EsmmConfig, "fields" | "experts" | "towers">> & {
  fields: FieldSpec[];
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

/**
 * Fills defaults (E = 2 experts of 256 -> 128, towers 128 -> 64 -> 1, D = 16) and validates every
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
  const init = expectObject(opt(c.embeddingInit, DEFAULT_EMBEDDING_INIT), "config.embeddingInit");
  const cfg: EsmmConfig = {
    variant: expectOneOf(opt(c.variant, "esmm-mmoe"), "config.variant", VARIANTS),
    fields,
    dense,
    denseMean: floats(opt(c.denseMean, dense.map(() => 0)), "config.denseMean", false),
    denseStd: floats(opt(c.denseStd, dense.map(() => 1)), "config.denseStd", true),
    dim: expectInt(opt(c.dim, 16), "config.dim", 1, L.dim),
    experts: { count: expectInt(opt(experts.count, 2), "config.experts.count", 1, L.experts), hidden: widths(opt(experts.hidden, [256, 128]), "config.experts.hidden", 1) },
    towers: { hidden: widths(opt(towers.hidden, [64]), "config.towers.hidden", 0) },
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

/** Width of the model input: D per field (single or pooled bag) plus the dense features. */
export function inputWidth(cfg: EsmmConfig): number {
  return cfg.fields.length * cfg.dim + cfg.dense.length;
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
  if (cfg.variant === "esmm-mmoe") {
    const E = cfg.experts.count;
    n += E * mlpParameters([width, ...eh]);
    n += 2 * (width * E + E);
    n += 2 * mlpParameters([eh[eh.length - 1]!, ...cfg.towers.hidden, 1]);
  } else {
    n += 2 * mlpParameters([width, ...eh, ...cfg.towers.hidden, 1]);
  }
  return n;
}
