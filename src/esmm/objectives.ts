/**
 * The objectives, as a table: each entry says which loss terms it adds up, over which rows each
 * term is a mean (so that shards of a batch can weigh their parts, see shardLossWeights), and how
 * to compute them from a forward pass. A new objective is one more entry.
 *
 * Notation, per impression i of a batch of B: z_i the CVR logit, a_i the CTR logit, o_i the click
 * (0/1), y_i the conversion (0/1, only ever 1 where o_i = 1), e_i = BCE(sigmoid(z_i), y_i) the CVR
 * loss the row would have if its conversion label were known (it is only where o_i = 1).
 *
 *   entire-space (ESMM):  L = BCE(pCTR, o) + BCE(pCTR pCVR, o y)                  over all B rows
 *   clicked (BASE):       L = BCE(pCTR, o) + sum_i o_i e_i / sum_i o_i            (clicked rows)
 *   escm2-ips:            L = entire-space + L_IPS,  L_IPS = (1/N) sum_i w_i e_i
 *   escm2-dr:             L = entire-space + L_DR + L_IMP
 *
 * ESCM2 (Wang et al., SIGIR 2022) adds a counterfactual CVR risk: the clicked-only loss, re-weighted
 * so that its expectation is the loss over every impression. With propensity p_i = P(click) (pCTR,
 * detached: the weights steer the CVR tower, they are not trained through), w_i = o_i / max(p_i, clip)
 * and E[o_i] = p_i, so E[w_i e_i] = e_i when the propensity is right and above the clip:
 *   IPS:  L_IPS = (1/N) sum_i w_i e_i,   N = B, or sum_i w_i when normalising (self-normalised IPS).
 * IPS is unbiased but its variance grows with 1 / p. Doubly robust estimation adds an imputed error
 * e^_i for every row and uses the clicked rows only to correct it:
 *   DR:   L_DR  = (1/B) sum_i e^_i + (1/N) sum_i w_i (e_i - e^_i)
 * which is unbiased if either the propensities or the imputed errors are right. The imputation tower
 * outputs an imputed conversion probability q_i = sigmoid(u_i), and the imputed error is the loss the
 * CVR tower would have if q were the label: e^_i = BCE(sigmoid(z_i), q_i) = softplus(z_i) - q_i z_i (the
 * joint-learning form of DR, Wang et al., ICML 2019). So e_i - e^_i = (q_i - y_i) z_i, and
 *   L_DR  = (1/B) sum_i BCE(sigmoid(z_i), q_i) + (1/N) sum_i w_i (q_i - y_i) z_i      (q held fixed),
 *   L_IMP = (1/N) sum_i w_i (e_i - e^_i)^2 = (1/N) sum_i w_i (q_i - y_i)^2 z_i^2      (z held fixed):
 * L_DR trains the CVR tower on every impression (towards q, corrected on clicks); L_IMP trains the
 * imputation tower to predict the CVR tower's errors where they are observed, IPS-weighted. Every
 * term is computed from logits: softplus in log space, no probability is logged.
 */
import { allocF32, sigmoidScalar, Tensor } from "../tensor/index.js";
import { add, bceWithLogits, bceWithLogitsProduct, mul, sigmoid, sub, sum } from "../autograd/index.js";
import type { CounterfactualConfig, EsmmConfig, ObjectiveName } from "./config.js";
import { FieldError, show } from "./validate.js";

/** The loss terms: `cvr` is an objective's second term (CTCVR for the entire-space ones, clicked CVR for `clicked`). */
export type TermKey = "ctr" | "cvr" | "counterfactual" | "imputation";

/** One term of an objective. */
export interface ObjectiveTerm {
  key: TermKey;
  /** What the term is, for logs and reports. */
  label: string;
  /** The rows the term is a mean over: all of them, the clicked ones, or the sum of the IPS weights. */
  over: "all" | "clicked" | "weights";
}

/** What an objective computes its terms from: the logits of a forward pass, the labels, and the counterfactual settings. */
export interface LossContext {
  ctrLogit: Tensor;
  cvrLogit: Tensor;
  /** escm2-dr only: the imputation tower's logit u (q = sigmoid(u)). */
  impLogit: Tensor | null;
  click: Float32Array;
  conversion: Float32Array;
  /** click AND conversion. */
  ctcvr: Float32Array;
  counterfactual: CounterfactualConfig;
}

/** An objective: its terms and how to compute them. */
export interface Objective {
  name: ObjectiveName;
  summary: string;
  /** The terms this objective adds up (their rows depend on the counterfactual settings). */
  terms(cf: CounterfactualConfig): ObjectiveTerm[];
  /** Each term's mean (before its weight), as a scalar tensor. */
  loss(ctx: LossContext): Partial<Record<TermKey, Tensor>>;
}

const CTR: ObjectiveTerm = { key: "ctr", label: "BCE(pCTR, click)", over: "all" };
const CTCVR: ObjectiveTerm = { key: "cvr", label: "BCE(pCTCVR, click AND conversion)", over: "all" };
const weighted = (cf: CounterfactualConfig): ObjectiveTerm["over"] => (cf.normalize ? "weights" : "all");

/**
 * The inverse propensity weights w_i = o_i / max(pCTR_i, clip) from the CTR logits (held fixed), and
 * N, the divisor of the weighted sums: B, or sum_i w_i when normalising.
 */
export function propensityWeights(ctrLogit: Float32Array, click: Float32Array, cf: CounterfactualConfig): { w: Float32Array; n: number; sum: number } {
  const B = ctrLogit.length;
  const w = allocF32(B);
  let s = 0;
  for (let i = 0; i < B; i++) {
    if (click[i] !== 1) continue;
    w[i] = 1 / Math.max(sigmoidScalar(ctrLogit[i]!), cf.clip);
    s += w[i]!;
  }
  return { w, n: cf.normalize ? s : B, sum: s };
}

/**
 * The two estimators as plain sums over float64 arrays: the definitions the losses below compute
 * through the autograd (a test holds them together), and a place to check their properties.
 * `e` are the observed errors (read only where w > 0), `eHat` the imputed ones, `w` the inverse
 * propensity weights (0 on unclicked rows), `n` the divisor (B, or sum w).
 */
export function ipsEstimate(e: ArrayLike<number>, w: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) if (w[i]! > 0) s += w[i]! * e[i]!;
  return n > 0 ? s / n : 0;
}

/** The doubly robust estimate (1/B) sum eHat + (1/n) sum w (e - eHat), in float64. */
export function drEstimate(e: ArrayLike<number>, eHat: ArrayLike<number>, w: ArrayLike<number>, n: number): number {
  let imputed = 0;
  let corr = 0;
  for (let i = 0; i < w.length; i++) {
    imputed += eHat[i]!;
    if (w[i]! > 0) corr += w[i]! * (e[i]! - eHat[i]!);
  }
  return imputed / w.length + (n > 0 ? corr / n : 0);
}

/** L_IPS = (1/N) sum_i w_i e_i: the weighted mean BCE (divided by sum w), rescaled to divide by N. */
function ipsLoss(ctx: LossContext): Tensor {
  const { w, n, sum: s } = propensityWeights(ctx.ctrLogit.data, ctx.click, ctx.counterfactual);
  const weightedMean = bceWithLogits(ctx.cvrLogit, ctx.conversion, { weights: w });
  return n > 0 && s !== n ? mul(weightedMean, s / n) : weightedMean;
}

/** L_DR and L_IMP (see the top of this file). */
function drLoss(ctx: LossContext): { dr: Tensor; imp: Tensor } {
  if (!ctx.impLogit) throw new Error("Esmm.loss: escm2-dr needs the imputation tower's output (impLogit)");
  const { w, n } = propensityWeights(ctx.ctrLogit.data, ctx.click, ctx.counterfactual);
  const B = ctx.cvrLogit.size;
  const q = sigmoid(ctx.impLogit); // [B], live: L_IMP trains the imputation tower through it
  const z = ctx.cvrLogit.data;
  const qFixed = q.data; // q's values, as constants where L_DR holds q fixed (targets get no gradient)
  const corr = allocF32(B); // w_i (q_i - y_i) / N: the correction's coefficient of z_i, fixed
  const impW = allocF32(B); // w_i z_i^2 / N: L_IMP's coefficient of (q_i - y_i)^2, z fixed
  if (n > 0) {
    for (let i = 0; i < B; i++) {
      if (w[i] === 0) continue;
      corr[i] = (w[i]! * (qFixed[i]! - ctx.conversion[i]!)) / n;
      impW[i] = (w[i]! * z[i]! * z[i]!) / n;
    }
  }
  const imputed = bceWithLogits(ctx.cvrLogit, qFixed); // (1/B) sum_i BCE(sigmoid(z_i), q_i)
  const dr = add(imputed, sum(mul(ctx.cvrLogit, new Tensor(corr, [B]))));
  const d = sub(q, new Tensor(ctx.conversion, [B]));
  const imp = sum(mul(mul(d, d), new Tensor(impW, [B])));
  return { dr, imp };
}

/** The table of objectives, by name. */
export const OBJECTIVES: Readonly<Record<ObjectiveName, Objective>> = {
  "entire-space": {
    name: "entire-space",
    summary: "ESMM: BCE(pCTR, click) + BCE(pCTR x pCVR, click AND conversion) over every impression",
    terms: () => [CTR, CTCVR],
    loss: (c) => ({ ctr: bceWithLogits(c.ctrLogit, c.click), cvr: bceWithLogitsProduct(c.ctrLogit, c.cvrLogit, c.ctcvr) }),
  },
  clicked: {
    name: "clicked",
    summary: "BASE: BCE(pCTR, click) + BCE(pCVR, conversion) over clicked impressions only",
    terms: () => [CTR, { key: "cvr", label: "BCE(pCVR, conversion) on clicks", over: "clicked" }],
    loss: (c) => ({ ctr: bceWithLogits(c.ctrLogit, c.click), cvr: bceWithLogits(c.cvrLogit, c.conversion, { weights: c.click }) }),
  },
  "escm2-ips": {
    name: "escm2-ips",
    summary: "ESCM2-IPS: entire-space + (1/N) sum click_i / max(pCTR_i, clip) BCE(pCVR_i, conversion_i)",
    terms: (cf) => [CTR, CTCVR, { key: "counterfactual", label: "IPS-weighted CVR risk", over: weighted(cf) }],
    loss: (c) => ({ ...OBJECTIVES["entire-space"].loss(c), counterfactual: ipsLoss(c) }),
  },
  "escm2-dr": {
    name: "escm2-dr",
    summary: "ESCM2-DR: entire-space + doubly robust CVR risk + the imputation tower's loss",
    terms: (cf) => [CTR, CTCVR, { key: "counterfactual", label: "doubly robust CVR risk", over: weighted(cf) }, { key: "imputation", label: "imputation error", over: weighted(cf) }],
    loss: (c) => {
      const { dr, imp } = drLoss(c);
      return { ...OBJECTIVES["entire-space"].loss(c), counterfactual: dr, imputation: imp };
    },
  },
};

/** The loss terms a weight may be given for. */
export const TERM_KEYS: readonly TermKey[] = ["ctr", "cvr", "counterfactual", "imputation"];

/**
 * Loss weights as a caller gives them (train's `lossWeights`, a --models file), checked: an object of
 * loss terms, each weight a finite number >= 0, and with `cfg` not 0 on every term of its objective.
 * A misspelt term would otherwise leave a weight of 1 on the term meant, and a string would crash
 * several layers down.
 */
export function checkLossWeights(w: unknown, at: string, cfg?: Pick<EsmmConfig, "objective" | "counterfactual">): Partial<Record<TermKey, number>> {
  if (w === null || typeof w !== "object" || Array.isArray(w)) throw new FieldError(at, `must be an object of loss terms' weights (${TERM_KEYS.join(", ")}), got ${show(w)}`);
  const out: Partial<Record<TermKey, number>> = {};
  for (const [k, v] of Object.entries(w)) {
    if (!(TERM_KEYS as readonly string[]).includes(k)) throw new FieldError(`${at}.${k}`, `is not a loss term (${TERM_KEYS.join(", ")})`);
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new FieldError(`${at}.${k}`, `must be a finite number >= 0, got ${show(v)}`);
    out[k as TermKey] = v;
  }
  const terms = cfg ? objectiveOf(cfg).terms(cfg.counterfactual) : [];
  if (cfg && terms.every((t) => termWeight(out, t.key) === 0)) throw new FieldError(at, `every term of the ${cfg.objective} objective (${terms.map((t) => t.key).join(", ")}) weighs 0, so nothing would be trained`);
  return out;
}

/** A term's weight in the total: the caller's, else 1. */
export function termWeight(weights: Partial<Record<TermKey, number>>, key: TermKey): number {
  return weights[key] ?? 1;
}

/** The objective of a config, with its terms. */
export function objectiveOf(cfg: Pick<EsmmConfig, "objective">): Objective {
  return OBJECTIVES[cfg.objective];
}
