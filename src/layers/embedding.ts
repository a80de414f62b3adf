import { Rng, Tensor, normalInit, zeros } from "../tensor/index.js";
import { embeddingBag, gather, type BagMode } from "../autograd/index.js";
import { Module, type NamedParameters } from "./module.js";

/**
 * How an embedding table starts:
 * - `{ kind: "normal", std: 1 }` is PyTorch's nn.Embedding default N(0, 1);
 * - `{ kind: "normal", std: 0.01 }`-like small normals are what recommender frameworks use
 *   (EasyRec / TF's truncated normal, torch-rechub's N(0, 1e-4)).
 */
export interface EmbeddingInit {
  kind: "normal";
  std: number;
}

/** Options of an `Embedding`: the seeded generator and the initialisation. */
export interface EmbeddingOptions {
  rng: Rng;
  /** How the table is drawn (default DEFAULT_EMBEDDING_INIT); null leaves it at zero, drawing nothing, for a table whose weights are loaded next. */
  init?: EmbeddingInit | null;
  /** Row-sparse gradients (default true): a step touches only the rows a batch used. */
  sparse?: boolean;
}

/**
 * A lookup table [V, D]. `forward(ids)` gathers rows; `bag(...)` pools multi-valued fields.
 * The gradient is row-sparse by default (PyTorch's `nn.Embedding(sparse=True)`).
 */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly num: number, readonly dim: number, opts: EmbeddingOptions) {
    super();
    this.weight = zeros([num, dim], { requiresGrad: true, sparseGrad: opts.sparse !== false, name: "weight" });
    if (opts.init !== null) normalInit(this.weight.data, opts.rng, (opts.init ?? DEFAULT_EMBEDDING_INIT).std);
  }

  /** ids [N] -> [N, D] */
  forward(ids: Int32Array): Tensor {
    return gather(this.weight, ids);
  }

  /** Pooled bags: see `embeddingBag`. -> [B, D] */
  bag(offsets: Int32Array, ids: Int32Array, weights: Float32Array | null, mode: BagMode): Tensor {
    return embeddingBag(this.weight, offsets, ids, weights, mode);
  }

  namedParameters(): NamedParameters {
    return [["weight", this.weight]];
  }
}

/**
 * The default, chosen by measuring on the simulator (docs/results.md, bench/embedding-init.ts):
 * PyTorch's N(0, 1). With the small normals of the recommender frameworks (std 0.1 or 0.01) both ESMM
 * variants reached a higher CTR AUC after one epoch but then overfit (validation CTCVR AUC fell from
 * the second epoch on), and their best CTCVR AUC stayed below N(0, 1)'s.
 */
export const DEFAULT_EMBEDDING_INIT: EmbeddingInit = { kind: "normal", std: 1 };
