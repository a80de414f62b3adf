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

export interface EmbeddingOptions {
  rng: Rng;
  init?: EmbeddingInit;
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
    normalInit(this.weight.data, opts.rng, (opts.init ?? DEFAULT_EMBEDDING_INIT).std);
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
 * The default, chosen by measuring on the simulator (see docs/results.md): N(0, 0.05^2)... kept in one
 * place so the choice is easy to revisit.
 */
export const DEFAULT_EMBEDDING_INIT: EmbeddingInit = { kind: "normal", std: 0.05 };
