/** The model's configuration: what a checkpoint's model.json stores, with defaults filled in. */
import type { BagMode } from "../autograd/index.js";
import { DEFAULT_EMBEDDING_INIT, type EmbeddingInit } from "../layers/index.js";

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

/** Fills defaults (E = 2 experts of 256 -> 128, towers 128 -> 64 -> 1, D = 16) and validates. */
export function resolveConfig(c: EsmmConfigInput): EsmmConfig {
  const cfg: EsmmConfig = {
    variant: c.variant ?? "esmm-mmoe",
    fields: c.fields.map((f) => ({ name: f.name, vocab: f.vocab, kind: f.kind ?? "single", pooling: f.pooling ?? "mean" })),
    dense: c.dense ?? [],
    denseMean: c.denseMean ?? (c.dense ?? []).map(() => 0),
    denseStd: c.denseStd ?? (c.dense ?? []).map(() => 1),
    dim: c.dim ?? 16,
    experts: { count: c.experts?.count ?? 2, hidden: c.experts?.hidden ?? [256, 128] },
    towers: { hidden: c.towers?.hidden ?? [64] },
    embeddingInit: c.embeddingInit ?? DEFAULT_EMBEDDING_INIT,
    seed: c.seed ?? 1,
  };
  const bad = (msg: string): never => {
    throw new Error(`config: ${msg}`);
  };
  if (!VARIANTS.includes(cfg.variant)) bad(`variant "${cfg.variant}" is not one of ${VARIANTS.join(", ")}`);
  if (cfg.fields.length === 0 && cfg.dense.length === 0) bad("needs at least one field or dense feature");
  const names = new Set<string>();
  for (const f of cfg.fields) {
    if (!f.name || /[.\s]/.test(f.name)) bad(`field name "${f.name}" must be non-empty without dots or spaces`);
    if (names.has(f.name)) bad(`field "${f.name}" appears twice`);
    names.add(f.name);
    if (!Number.isInteger(f.vocab) || f.vocab < 1) bad(`field "${f.name}" needs a vocabulary size >= 1, got ${f.vocab}`);
    if (f.kind !== "single" && f.kind !== "multi") bad(`field "${f.name}" kind must be single or multi`);
    if (f.pooling !== "sum" && f.pooling !== "mean") bad(`field "${f.name}" pooling must be sum or mean`);
  }
  if (cfg.denseMean.length !== cfg.dense.length || cfg.denseStd.length !== cfg.dense.length) bad("denseMean / denseStd must match dense");
  if (cfg.denseStd.some((s) => !(s > 0))) bad("denseStd entries must be > 0");
  const posInt = (v: number, what: string): void => {
    if (!Number.isInteger(v) || v < 1) bad(`${what} must be a positive integer, got ${v}`);
  };
  posInt(cfg.dim, "dim");
  posInt(cfg.experts.count, "experts.count");
  if (cfg.experts.hidden.length === 0) bad("experts.hidden needs at least one size");
  cfg.experts.hidden.forEach((h) => posInt(h, "experts.hidden"));
  cfg.towers.hidden.forEach((h) => posInt(h, "towers.hidden"));
  if (!(cfg.embeddingInit.std >= 0)) bad("embeddingInit.std must be >= 0");
  return cfg;
}

/** Width of the model input: D per field (single or pooled bag) plus the dense features. */
export function inputWidth(cfg: EsmmConfig): number {
  return cfg.fields.length * cfg.dim + cfg.dense.length;
}
