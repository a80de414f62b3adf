/**
 * Adam (Kingma & Ba, 2015) with PyTorch's bias correction, optional decoupled weight decay (AdamW,
 * Loshchilov & Hutter) and optional global gradient-norm clipping.
 *
 * For each parameter with gradient g at its step t (t counts the steps it received a gradient):
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g^2
 *   p = p (1 - lr wd) - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * Dense parameters get that update everywhere. Row-sparse parameters (embedding tables) get the
 * LAZY row-wise update, PyTorch's SparseAdam semantics: only the rows present in the batch move, and
 * only their moments decay. Dense Adam would instead decay every row's m and v each step and keep
 * moving rows whose gradient is zero now but was not before; lazy Adam costs O(rows in the batch),
 * not O(V), which is what makes million-row tables affordable. The price: a row's moments "freeze"
 * while it is absent, so its effective step differs from dense Adam's.
 */
import type { AdamHyper, Tensor } from "../tensor/index.js";
import { allocLasting, kernels } from "../tensor/index.js";
import type { NamedParameters } from "../layers/index.js";

/** Adam's hyperparameters (PyTorch's defaults), decoupled weight decay, and clipping of the global gradient norm. */
export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW). Default 0. */
  weightDecay?: number;
  /** Clip the global L2 norm of all gradients to this value before the update. Default none. */
  maxGradNorm?: number;
}

/** Saved optimiser state of one parameter. */
export interface AdamParamState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/** Adam (and AdamW with `weightDecay`) over named parameters; a table with row-sparse gradients is updated lazily, only the rows a step touched (see the top of this file). */
export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number | undefined;
  private readonly params: NamedParameters;
  private readonly state = new Map<string, AdamParamState>();

  constructor(params: NamedParameters, opts: AdamOptions = {}) {
    this.params = params;
    this.lr = opts.lr ?? 1e-3;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.maxGradNorm = opts.maxGradNorm;
    if (!(this.lr >= 0 && Number.isFinite(this.lr))) throw new Error(`Adam: lr must be a finite number >= 0, got ${this.lr}`);
    if (!(this.eps > 0 && Number.isFinite(this.eps))) throw new Error(`Adam: eps must be a finite number > 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0 && Number.isFinite(this.weightDecay))) throw new Error(`Adam: weightDecay must be a finite number >= 0, got ${this.weightDecay}`);
    if (this.maxGradNorm !== undefined && !(this.maxGradNorm > 0 && Number.isFinite(this.maxGradNorm))) throw new Error(`Adam: maxGradNorm must be a finite number > 0, got ${this.maxGradNorm}`);
    for (const [k, b] of [["beta1", this.beta1], ["beta2", this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`Adam: ${k} must be in [0, 1), got ${b}`);
    }
    const names = new Set<string>();
    for (const [n] of params) {
      if (names.has(n)) throw new Error(`Adam: parameter name "${n}" appears twice`);
      names.add(n);
    }
  }

  /** L2 norm of all gradients (dense and row-sparse). */
  gradNorm(): number {
    let s = 0;
    for (const [, p] of this.params) {
      const g = p.sparse ? p.sparseGrad?.values : p.grad;
      if (g) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
    }
    return Math.sqrt(s);
  }

  /**
   * The first parameter whose gradient holds a NaN or an infinity (a diverging run), or null. One
   * pass over the gradients (row-sparse ones: the rows present), cheap beside the step that made them.
   */
  nonFiniteGradient(only?: ReadonlySet<string>): { name: string; count: number } | null {
    for (const [name, p] of this.params) {
      if (only && !only.has(name)) continue;
      const g = p.sparse ? p.sparseGrad?.values : p.grad;
      const count = g ? kernels.countNonFinite(g, g.length) : 0;
      if (count) return { name, count };
    }
    return null;
  }

  /**
   * One update of every parameter that has a gradient; with `only`, of those named there alone
   * (data-parallel training splits the update between threads; clipping needs every gradient, so
   * it cannot be split).
   */
  step(only?: ReadonlySet<string>): void {
    let gradScale = 1;
    if (only && this.maxGradNorm !== undefined) throw new Error("Adam.step: gradient clipping needs every gradient, it cannot update a subset");
    if (this.maxGradNorm !== undefined) {
      const norm = this.gradNorm();
      // As torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) when that is below 1.
      gradScale = Math.min(1, this.maxGradNorm / (norm + 1e-6));
    }
    for (const [name, p] of this.params) {
      if (only && !only.has(name)) continue;
      const sparse = p.sparse ? p.sparseGrad : null;
      if (p.sparse ? !sparse : !p.grad) continue;
      const st = this.stateOf(name, p);
      st.step += 1;
      const h: AdamHyper = {
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.weightDecay,
        bc1: 1 - this.beta1 ** st.step,
        bc2: 1 - this.beta2 ** st.step,
        gradScale,
      };
      if (sparse) kernels.adamRows(p.data, sparse.values, sparse.rows, st.m, st.v, p.shape[1]!, h);
      else kernels.adamDense(p.data, p.grad!, st.m, st.v, p.size, h);
    }
  }

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const [, p] of this.params) p.zeroGrad();
  }

  private stateOf(name: string, p: Tensor): AdamParamState {
    let st = this.state.get(name);
    if (!st) {
      st = { step: 0, m: allocLasting(p.size), v: allocLasting(p.size) };
      this.state.set(name, st);
    }
    return st;
  }

  /**
   * The live state of one parameter (created at step 0 if it has none): a data-parallel trainer
   * moves m and v into shared memory with `useState`, so that another thread updates them in place.
   */
  liveState(name: string): AdamParamState {
    const p = this.params.find(([n]) => n === name)?.[1];
    if (!p) throw new Error(`Adam.liveState: no parameter "${name}"`);
    return this.stateOf(name, p);
  }

  /** Replaces one parameter's state by the given arrays (kept, not copied) and step count. */
  useState(name: string, st: AdamParamState): void {
    const p = this.params.find(([n]) => n === name)?.[1];
    if (!p) throw new Error(`Adam.useState: no parameter "${name}"`);
    if (st.m.length !== p.size || st.v.length !== p.size) throw new Error(`Adam.useState: "${name}" moments must have ${p.size} values`);
    this.state.set(name, st);
  }

  /** The optimiser state by parameter name (copies): enough to resume training exactly. */
  stateDict(): Map<string, AdamParamState> {
    const out = new Map<string, AdamParamState>();
    for (const [n, s] of this.state) out.set(n, { step: s.step, m: s.m.slice(), v: s.v.slice() });
    return out;
  }

  /**
   * The optimiser state as views of its own arrays, without the copies `stateDict` makes: for reading
   * before the next step (saving a checkpoint writes the moments to disk from these very arrays),
   * not for keeping, since the next step changes them.
   */
  stateView(): ReadonlyMap<string, Readonly<AdamParamState>> {
    return this.state;
  }

  /** Restores a state saved by `stateDict`; names and sizes must match this optimiser's parameters. */
  loadStateDict(state: ReadonlyMap<string, AdamParamState>): void {
    const byName = new Map(this.params);
    this.state.clear();
    for (const [n, s] of state) {
      const p = byName.get(n);
      if (!p) throw new Error(`Adam.loadStateDict: state for unknown parameter "${n}"`);
      if (s.m.length !== p.size || s.v.length !== p.size) {
        throw new Error(`Adam.loadStateDict: "${n}" moments have ${s.m.length}/${s.v.length} values, expected ${p.size}`);
      }
      if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`Adam.loadStateDict: "${n}" has invalid step ${s.step}`);
      this.state.set(n, { step: s.step, m: s.m.slice(), v: s.v.slice() });
    }
  }
}
