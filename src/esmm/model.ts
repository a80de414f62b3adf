/**
 * ESMM, the Entire Space Multi-task Model (Ma et al., SIGIR 2018), here over an MMoE bottom.
 *
 *   x = [embeddings of every field | standardised dense]             [B, F*D + Nd]
 *   mmoe bottom:     h_e = Expert_e(x)  (e < E)                       E x [B, H]
 *                    g_t = softmax(W_t x + b_t)  for t in {ctr, cvr}  [B, E]
 *                    z_t = Tower_t(sum_e g_t[:, e] * h_e)             [B]
 *   shared bottom:   z_t = Tower_t(x)
 *   separate bottom: z_t = Tower_t(x_t), each task with its own embedding tables
 *   pCTR = sigmoid(z_ctr), pCVR = sigmoid(z_cvr), pCTCVR = pCTR * pCVR
 * The loss is the config's objective (src/esmm/objectives.ts); escm2-dr adds an imputation tower
 * beside the CVR tower (same input), used only by its loss.
 *
 * ESMM's point: no impression-level CVR label exists outside clicks, but pCTCVR = pCTR x pCVR is
 * defined over every impression, so training pCTR and pCTCVR on all impressions trains the CVR tower
 * on the entire space without ever fitting it to the (biased, sparse) clicked-only sample.
 */
import { Arena, Rng, Tensor, allocF32, firstNonFinite, fmt } from "../tensor/index.js";
import { add, detach, isGradEnabled, mixExperts, mul, noGrad, reshape, sigmoid, type FieldInput } from "../autograd/index.js";
import { FieldEmbeddings, Gate, InputRowError, Mlp, Module, prefixed, type Embedding, type FirstLayer, type NamedParameters } from "../layers/index.js";
import { checkLabels, type Batch } from "./batch.js";
import { assertTrainable, hasImputation, inputWidth, modelName, resolveConfig, towerSizes, type EsmmConfig, type EsmmConfigInput } from "./config.js";
import { objectiveOf, termWeight, type TermKey } from "./objectives.js";

/** Named outputs of a forward pass. Logits and probabilities are [B]. */
export interface EsmmOutput {
  ctrLogit: Tensor;
  cvrLogit: Tensor;
  pCtr: Tensor;
  pCvr: Tensor;
  pCtcvr: Tensor;
  /** mmoe bottom only: each task's gate weights over the experts, [B, E]. */
  gates?: { ctr: Tensor; cvr: Tensor };
  /** escm2-dr only: the imputation tower's logit [B] (its sigmoid is the imputed pCVR). */
  impLogit?: Tensor;
}

/**
 * Each loss term's weight (default 1): `ctr`; `cvr`, the objective's second term (CTCVR for the
 * entire-space objectives, the clicked-only CVR loss for `clicked`); ESCM2's `counterfactual` risk
 * and the `imputation` tower's loss.
 */
export type LossWeights = Partial<Record<TermKey, number>>;

/** A loss of `Esmm.loss`: the scalar to differentiate and each term's value. */
export interface EsmmLoss {
  /** The scalar to call backward() on. */
  total: Tensor;
  ctr: number;
  /** The second term: BCE(pCTCVR, click AND conversion), or the clicked-only BCE(pCVR, conversion). */
  cvr: number;
  /** Every term's mean before its weight, by key (ctr and cvr included). */
  terms: Partial<Record<TermKey, number>>;
}

/** Plain arrays of a batch's scores, for inference. */
export interface Scores {
  pCtr: Float32Array;
  pCvr: Float32Array;
  pCtcvr: Float32Array;
  /** [B, E] per task, esmm-mmoe only. */
  gates?: { ctr: Float32Array; cvr: Float32Array };
}

/**
 * `model.predict(batch)` for a batch that starts `first` rows into a stream of batches (a data set, a
 * file, an app's records): an InputRowError then names its row counted from the stream's start.
 */
export function predictFrom(model: Esmm, batch: Batch, first: number): Scores {
  try {
    return model.predict(batch);
  } catch (e) {
    throw e instanceof InputRowError ? e.shifted(first) : e;
  }
}

/**
 * The first of a batch's outputs (pCtr, pCvr, pCtcvr, then the gates) that holds a NaN or an
 * infinity: its name, the row of its first such value and how many values it has; null when every
 * score is finite. What scoring checks before it hands scores on: a NaN inside the network (an input
 * that overflows float32 on the way, a non-finite weight) reaches the outputs, since ReLU keeps it.
 */
export function nonFiniteScore(sc: Scores): { output: string; row: number; count: number } | null {
  const B = sc.pCtr.length;
  const outputs: Array<[string, Float32Array]> = [["pCtr", sc.pCtr], ["pCvr", sc.pCvr], ["pCtcvr", sc.pCtcvr]];
  if (sc.gates) outputs.push(["gates.ctr", sc.gates.ctr], ["gates.cvr", sc.gates.cvr]);
  for (const [output, a] of outputs) {
    const bad = firstNonFinite(a);
    if (bad) return { output, row: Math.floor(bad.index / (a.length / B)), count: bad.count };
  }
  return null;
}

/** The model: embeddings, a bottom (mmoe, shared or separate) and the CTR and CVR towers, with named parameters, named outputs (`forward`), its objective's loss (`loss`) and scoring (`predict`). See the top of this file. */
export class Esmm extends Module {
  readonly config: EsmmConfig;
  /** The field embeddings and the input row built from them (src/layers/field-input.ts). */
  readonly inputs: FieldEmbeddings;
  /** separate bottom only: the CVR net's own tables and input (the CTR net uses `inputs`). */
  readonly cvrInputs: FieldEmbeddings | null;
  readonly experts: Mlp[];
  readonly gates: { ctr: Gate; cvr: Gate } | null;
  readonly towers: { ctr: Mlp; cvr: Mlp; imp?: Mlp };

  /**
   * With `{ draw: false }` the embedding tables start at zero instead of drawn from
   * `config.embeddingInit`: for a model whose weights are loaded next (a checkpoint, a worker's
   * replica), where drawing them is wasted work (78M values took 1.6 s). The layers after them are
   * drawn either way (a small part of a model, and not the numbers a drawn model gets).
   */
  constructor(configIn: EsmmConfigInput, opts: { draw?: boolean } = {}) {
    super();
    const cfg = resolveConfig(configIn);
    // a new model is refused where it could not train as meant; a checkpoint that holds one (draw: false) still loads
    if (opts.draw !== false) assertTrainable(cfg);
    this.config = cfg;
    const rng = new Rng(cfg.seed);
    const inputs = (): FieldEmbeddings =>
      new FieldEmbeddings(cfg.fields, cfg.dim, { rng, init: opts.draw === false ? null : cfg.embeddingInit, dense: { names: cfg.dense, mean: cfg.denseMean, std: cfg.denseStd }, label: "Esmm.forward" });
    this.inputs = inputs();
    this.cvrInputs = cfg.bottom === "separate" ? inputs() : null;
    const width = inputWidth(cfg);
    const eh = cfg.experts.hidden;
    if (cfg.bottom === "mmoe") {
      this.experts = Array.from({ length: cfg.experts.count }, () => new Mlp([width, ...eh], { rng, activateLast: true }));
      this.gates = {
        ctr: new Gate(width, cfg.experts.count, { rng }),
        cvr: new Gate(width, cfg.experts.count, { rng }),
      };
      // a gate prior: task t's gate starts leaning on its own experts
      if (cfg.experts.gatePrior !== 0) {
        [this.gates.ctr, this.gates.cvr].forEach((g, t) => {
          const b = g.linear.bias!.data;
          for (let e = 0; e < cfg.experts.count; e++) if (this.homeOf(e) === t) b[e]! += cfg.experts.gatePrior;
        });
      }
    } else {
      // The paper's nets: each task an MLP straight from the embeddings, as deep as expert + tower.
      this.experts = [];
      this.gates = null;
    }
    // drawn in this order: CTR, CVR, then the imputation tower (the CTR tower's size)
    const tower = (hidden: readonly number[]): Mlp => new Mlp(towerSizes(cfg, hidden), { rng });
    this.towers = { ctr: tower(cfg.towers.hidden), cvr: tower(cfg.towers.cvr) };
    if (hasImputation(cfg)) this.towers.imp = tower(cfg.towers.hidden);
    this.dropoutRng = new Rng(cfg.seed * 7919 + 101);
  }

  /** Expert dropout's own seeded generator (see EsmmConfig.experts.dropout). */
  private readonly dropoutRng: Rng;

  /** While training with expert dropout: each expert's output, per row, dropped with probability p, else scaled by 1 / (1 - p). */
  private dropExperts(hs: Tensor[], B: number): Tensor[] {
    const p = this.config.experts.dropout;
    if (p === 0 || !isGradEnabled()) return hs;
    return hs.map((h) => {
      const mask = allocF32(B);
      for (let b = 0; b < B; b++) mask[b] = this.dropoutRng.uniform() < p ? 0 : 1 / (1 - p);
      return mul(h, new Tensor(mask, [B, 1]));
    });
  }

  /** The task (0 ctr, 1 cvr) expert e belongs to, whose gate the prior leans on it: e mod 2, except cgc's shared experts (null). */
  homeOf(e: number): 0 | 1 | null {
    return this.config.experts.share === "cgc" && e >= 2 ? null : ((e % 2) as 0 | 1);
  }

  /** The task that alone trains expert e, or null where every task does (see EsmmConfig.experts.share). */
  ownerOf(e: number): 0 | 1 | null {
    return this.config.experts.share === "all" ? null : this.homeOf(e);
  }

  /** The preset's name where the bottom and objective make one ("esmm-mmoe", "base", ...), else "bottom/objective". */
  get name(): string {
    return modelName(this.config);
  }

  namedParameters(): NamedParameters {
    const out: NamedParameters = [];
    out.push(...prefixed("embeddings", this.inputs.namedParameters()));
    if (this.cvrInputs) out.push(...prefixed("cvrEmbeddings", this.cvrInputs.namedParameters()));
    this.experts.forEach((e, i) => out.push(...prefixed(`experts.${i}`, e.namedParameters())));
    if (this.gates) {
      out.push(...prefixed("gates.ctr", this.gates.ctr.namedParameters()));
      out.push(...prefixed("gates.cvr", this.gates.cvr.namedParameters()));
    }
    out.push(...prefixed("towers.ctr", this.towers.ctr.namedParameters()));
    out.push(...prefixed("towers.cvr", this.towers.cvr.namedParameters()));
    if (this.towers.imp) out.push(...prefixed("towers.imp", this.towers.imp.namedParameters()));
    return out;
  }

  /**
   * How layers that read the model input compute their product:
   * - "per-id" (default): from the input's parts, once per distinct id of each field in the batch
   *   (src/autograd/ops/fields.ts); the [B, F*D + Nd] input is never built;
   * - "dense": over the materialised input, as `embed()` returns it.
   * Both give the same model up to float rounding; this only changes speed, and is not saved with it.
   */
  firstLayer: FirstLayer = "per-id";

  /** Each field's embedding table (the CTR net's, for a separate bottom), in config order. */
  get embeddings(): Embedding[] {
    return this.inputs.tables;
  }

  /** The model input x [B, F*D + Nd]: single fields gathered straight into place, bags pooled, dense standardised. */
  embed(batch: Batch): Tensor {
    return this.inputs.embed(batch);
  }

  /**
   * The model input as `firstLayer` wants it: by parts (a FieldInput, whose fields are multiplied per
   * distinct id) for "per-id" when there are single fields, else x; from `inputs` (the CVR net's own
   * for a separate bottom).
   */
  input(batch: Batch, inputs: FieldEmbeddings = this.inputs): Tensor | FieldInput {
    return inputs.input(batch, this.firstLayer);
  }

  /** One forward pass. `input` is a Batch, or plain ids [B, F] when every field is single-valued. */
  forward(input: Batch | Int32Array): EsmmOutput {
    const batch = input instanceof Int32Array ? this.batchOfIds(input) : input;
    const x = this.input(batch);
    const B = batch.size;
    let hCtr = x;
    let hCvr = this.cvrInputs ? this.input(batch, this.cvrInputs) : x;
    let gates: EsmmOutput["gates"];
    if (this.gates) {
      const experts = this.dropExperts(this.experts.map((e) => e.forward(x)), B); // E x [B, H]
      const gCtr = this.gates.ctr.forward(x); //                 [B, E]
      const gCvr = this.gates.cvr.forward(x); //                 [B, E]
      // owned experts: a task reads the other task's experts without training them
      const seenBy = (t: number): Tensor[] => experts.map((h, e) => (this.ownerOf(e) === null || this.ownerOf(e) === t ? h : detach(h)));
      hCtr = mixExperts(gCtr, seenBy(0)); //                     [B, H]
      hCvr = mixExperts(gCvr, seenBy(1)); //                     [B, H]
      gates = { ctr: gCtr, cvr: gCvr };
    }
    const ctrLogit = reshape(this.towers.ctr.forward(hCtr), [B]);
    const cvrLogit = reshape(this.towers.cvr.forward(hCvr), [B]);
    const pCtr = sigmoid(ctrLogit);
    const pCvr = sigmoid(cvrLogit);
    const out: EsmmOutput = { ctrLogit, cvrLogit, pCtr, pCvr, pCtcvr: mul(pCtr, pCvr) };
    if (gates) out.gates = gates;
    if (this.towers.imp) out.impLogit = reshape(this.towers.imp.forward(hCvr), [B]);
    return out;
  }

  private batchOfIds(ids: Int32Array): Batch {
    const F = this.config.fields.length;
    if (!this.inputs.idsOnly) {
      throw new Error("Esmm.forward: this model has multi-valued or dense features; pass a Batch, not plain ids");
    }
    if (ids.length % F !== 0) throw new Error(`Esmm.forward: ${ids.length} ids is not a multiple of ${F} fields`);
    return { size: ids.length / F, ids, bags: [], dense: null };
  }

  /**
   * The training loss of the config's objective (src/esmm/objectives.ts), from the logits in log
   * space: the sum of its terms, each a mean, times its weight. For example entire-space (ESMM):
   * w_ctr BCE(pCTR, click) + w_cvr BCE(pCTCVR, click AND conversion) over all impressions.
   */
  loss(out: EsmmOutput, click: Float32Array, conversion: Float32Array, weights: LossWeights = {}): EsmmLoss {
    const B = out.ctrLogit.size;
    if (click.length !== B || conversion.length !== B) {
      throw new Error(`Esmm.loss: labels have ${click.length}/${conversion.length} rows, outputs ${fmt(out.ctrLogit.shape)}`);
    }
    checkLabels(click, conversion, 0); // 0/1, and no conversion without a click
    const ctcvr = allocF32(B);
    for (let i = 0; i < B; i++) ctcvr[i] = click[i]! * conversion[i]!;
    const objective = objectiveOf(this.config);
    const parts = objective.loss({ ctrLogit: out.ctrLogit, cvrLogit: out.cvrLogit, impLogit: out.impLogit ?? null, click, conversion, ctcvr, counterfactual: this.config.counterfactual });
    let total: Tensor | null = null;
    const terms: EsmmLoss["terms"] = {};
    for (const t of objective.terms(this.config.counterfactual)) {
      const v = parts[t.key]!;
      terms[t.key] = v.item();
      const w = termWeight(weights, t.key);
      const scaled = w === 1 ? v : mul(v, w);
      total = total ? add(total, scaled) : scaled;
    }
    return { total: total!, ctr: terms.ctr!, cvr: terms.cvr!, terms };
  }

  /** Inference's own step arena: its buffers are reused from call to call (and, on the wasm backend, live where the kernels use them in place). */
  private readonly inferArena = new Arena();

  /** Scores without recording a graph (inference); the arrays returned are the caller's to keep. */
  predict(input: Batch | Int32Array): Scores {
    return this.inferArena.run(() =>
      noGrad(() => {
        const o = this.forward(input);
        const s: Scores = { pCtr: o.pCtr.data.slice(), pCvr: o.pCvr.data.slice(), pCtcvr: o.pCtcvr.data.slice() };
        if (o.gates) s.gates = { ctr: o.gates.ctr.data.slice(), cvr: o.gates.cvr.data.slice() };
        return s;
      }),
    );
  }
}

