/**
 * Tensor: a row-major, contiguous Float32Array with a shape, plus what reverse-mode autograd needs
 * (a gradient buffer and, for results of recorded ops, the graph node that made it).
 *
 * Ids (embedding lookups) are plain Int32Arrays, never tensors: they carry no gradient.
 */
import { allocF32, allocLasting, allocUnfilled } from "./arena.js";
import { kernels } from "./kernels/index.js";
import { Rng } from "./rng.js";
import { checkShape, fmt, sizeOf, type Shape } from "./shape.js";
import { FirstAppearance } from "./unique.js";

/** Coalescing sparse gradients numbers rows by first appearance (one table for every tensor: one pass runs at a time). */
const coalescer = new FirstAppearance();

/** One recorded op application: its inputs (in order) and the closure that pushes dy into them. */
export interface GraphNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Accumulates (+=) the gradient of each input that needs one, given dy = dL/d(output). */
  readonly backward: (dy: Float32Array) => void;
}

/**
 * A row-sparse gradient of a [V, D] table: `values` is [rows.length, D], row i belongs to table row
 * `rows[i]`. After coalescing, rows are unique (like PyTorch's `coalesce()`).
 */
export interface RowSparse {
  rows: Int32Array;
  values: Float32Array;
}

/** Options of a new tensor: whether it requires a gradient, whether its gradient is row-sparse, its name. */
export interface TensorOptions {
  requiresGrad?: boolean;
  /** For a [V, D] table: gradients from gathers arrive row-sparse (PyTorch's `sparse=True`). */
  sparseGrad?: boolean;
  name?: string;
}

type BackwardEngine = (root: Tensor) => void;
let engine: BackwardEngine | null = null;

/** Called once by src/autograd/engine.ts: tensor cannot import autograd (imports point one way). */
export function installBackwardEngine(fn: BackwardEngine): void {
  engine = fn;
}

/** A Float32Array with a shape, and when it takes part in a gradient, its gradient (dense, or row-sparse for embedding tables) and the node of the op that made it. */
export class Tensor {
  readonly data: Float32Array;
  readonly shape: Shape;
  requiresGrad: boolean;
  /** Table gradients come as row-sparse parts (see `sparseGrad`), never as a dense buffer. */
  readonly sparse: boolean;
  /** Dense gradient, allocated on first accumulation; null until then. */
  grad: Float32Array | null = null;
  /** The op that produced this tensor while grad mode was on; null for leaves and after backward. */
  node: GraphNode | null = null;
  name: string | undefined;

  private parts: RowSparse[] = [];
  private coalesced: RowSparse | null = null;

  constructor(data: Float32Array, shape: Shape, opts: TensorOptions = {}) {
    checkShape(shape, "tensor");
    if (data.length !== sizeOf(shape)) {
      throw new Error(`tensor: data has ${data.length} elements but shape ${fmt(shape)} needs ${sizeOf(shape)}`);
    }
    if (opts.sparseGrad && shape.length !== 2) throw new Error(`tensor: a sparse-gradient table must be 2-D, got ${fmt(shape)}`);
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.requiresGrad = opts.requiresGrad === true;
    this.sparse = opts.sparseGrad === true;
    this.name = opts.name;
  }

  /** Uninitialised-looking (zero) tensor of a shape; the ops' output constructor. */
  static empty(shape: Shape): Tensor {
    return new Tensor(allocF32(sizeOf(shape)), shape);
  }

  /** An op's output that its kernel writes in full (a product, a gather): not refilled with zeros first (see allocUnfilled). */
  static unfilled(shape: Shape): Tensor {
    return new Tensor(allocUnfilled(sizeOf(shape)), shape);
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** True when backward should compute a gradient for this tensor. */
  get needsGrad(): boolean {
    return this.requiresGrad || this.node !== null;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item: tensor of shape ${fmt(this.shape)} has ${this.size} elements, not 1`);
    return this.data[0]!;
  }

  /** The values as a plain array of numbers, in row-major order. */
  toArray(): number[] {
    return Array.from(this.data);
  }

  /** Runs reverse-mode autograd from this scalar (see src/autograd/engine.ts). */
  backward(): void {
    if (!engine) throw new Error("backward: the autograd engine is not loaded (import from 'esmm-ts', not the tensor folder alone)");
    engine(this);
  }

  /** The dense gradient buffer, allocated zeroed on first use. Backward closures accumulate into it. */
  gradBuffer(): Float32Array {
    if (this.sparse) throw new Error(`gradBuffer: ${this.label()} takes row-sparse gradients; use addRowGrad`);
    // Intermediates' gradients live one step (from the running arena, if any); leaves' live on.
    if (!this.grad) this.grad = this.node ? allocF32(this.size) : allocLasting(this.size);
    return this.grad;
  }

  /**
   * Accumulates gradient rows (rows may repeat): kept as a row-sparse part for a sparse table (nothing
   * is copied), scatter-added into the dense gradient otherwise.
   */
  addRowGrad(rows: Int32Array, values: Float32Array): void {
    if (!this.sparse) {
      // A dense tensor receiving rows: scatter-add straight into the dense gradient.
      kernels.scatterAddRows(this.gradBuffer(), values, rows, this.shape[1]!);
      return;
    }
    this.parts.push({ rows, values });
    this.coalesced = null;
  }

  /** The row-sparse parts as they arrived (rows may repeat), before coalescing; they stay valid after zeroGrad, which only forgets them. */
  get rowGradParts(): readonly RowSparse[] {
    return this.parts;
  }

  /**
   * The row-sparse gradient with unique rows (in order of first appearance), repeated rows summed in
   * the order they arrived. Null when no gradient reached this table. The result is cached until the
   * next accumulation or zeroGrad.
   */
  get sparseGrad(): RowSparse | null {
    if (!this.sparse || this.parts.length === 0) return null;
    if (this.coalesced) return this.coalesced;
    const V = this.shape[0]!;
    const D = this.shape[1]!;
    // each row's place in the output by first appearance: O(n) coalescing without sorting
    const seen = coalescer;
    seen.begin(V);
    let total = 0;
    for (const p of this.parts) total += p.rows.length;
    const values = allocF32(total * D);
    // each part's rows as places in `values`, then one scatter-add per part (parts in order, rows
    // in order within a part: the additions of the plain loop, in its order)
    const slots = new Int32Array(total);
    for (const p of this.parts) {
      const at = slots.subarray(0, p.rows.length);
      for (let i = 0; i < p.rows.length; i++) at[i] = seen.index(p.rows[i]!);
      kernels.scatterAddRows(values, p.values, at, D);
    }
    const u = seen.count;
    this.coalesced = { rows: seen.end(), values: values.subarray(0, u * D) };
    return this.coalesced;
  }

  /** Clears the gradient (dense and sparse) before the next step. */
  zeroGrad(): void {
    if (this.grad) kernels.zero(this.grad);
    this.parts = [];
    this.coalesced = null;
  }

  /**
   * Moves the values into another buffer of the same length (e.g. a view of shared memory that
   * worker threads see too): `data` is that buffer from then on. With `copy = false` the buffer's
   * own values are kept (a replica adopting shared weights). For parameters, between steps.
   */
  moveDataTo(buffer: Float32Array, copy = true): void {
    if (buffer.length !== this.size) throw new Error(`moveDataTo: ${this.label()} has ${this.size} values, the buffer ${buffer.length}`);
    if (copy && buffer !== this.data) buffer.set(this.data);
    (this as { data: Float32Array }).data = buffer;
  }

  /** A copy of the data with no graph history (`detach().clone()` in PyTorch terms). */
  clone(opts: TensorOptions = {}): Tensor {
    return new Tensor(this.data.slice(), this.shape, opts);
  }

  /** The tensor's name and shape, for error messages. */
  label(): string {
    return `${this.name ?? "tensor"}${fmt(this.shape)}`;
  }
}

/** The dense view of a tensor's gradient, sparse or not (zeros when nothing arrived). For tests and inspection. */
export function denseGrad(t: Tensor): Float32Array {
  if (!t.sparse) return t.grad ? t.grad.slice() : new Float32Array(t.size);
  const out = new Float32Array(t.size);
  const g = t.sparseGrad;
  if (!g) return out;
  const D = t.shape[1]!;
  for (let i = 0; i < g.rows.length; i++) {
    for (let d = 0; d < D; d++) out[g.rows[i]! * D + d] = g.values[i * D + d]!;
  }
  return out;
}

type Nested = number | readonly Nested[];

function flatten(x: Nested, out: number[], shape: number[], depth: number): void {
  if (typeof x === "number") {
    out.push(x);
    return;
  }
  if (shape.length === depth) shape.push(x.length);
  else if (shape[depth] !== x.length) throw new Error(`tensor: ragged nested array at depth ${depth}`);
  for (const v of x) flatten(v, out, shape, depth + 1);
}

/**
 * Builds a tensor from numbers. With `shape` the data is taken as flat, row-major; without it a nested
 * array gives its own shape. `tensor(3)` is a scalar.
 */
export function tensor(data: Nested | Float32Array | ArrayLike<number>, shape?: Shape, opts: TensorOptions = {}): Tensor {
  if (data instanceof Float32Array) return new Tensor(data, shape ?? [data.length], opts);
  if (typeof data === "number") return new Tensor(Float32Array.of(data), shape ?? [], opts);
  if (Array.isArray(data)) {
    const flat: number[] = [];
    const s: number[] = [];
    flatten(data as Nested, flat, s, 0);
    return new Tensor(Float32Array.from(flat), shape ?? s, opts);
  }
  const arr = Float32Array.from(data as ArrayLike<number>);
  return new Tensor(arr, shape ?? [arr.length], opts);
}

/** Zeros; a tensor that requires grad (a parameter) gets lasting memory from the backend (see allocLasting). */
export function zeros(shape: Shape, opts: TensorOptions = {}): Tensor {
  return new Tensor(opts.requiresGrad ? allocLasting(sizeOf(shape)) : new Float32Array(sizeOf(shape)), shape, opts);
}

/** A tensor of `shape` filled with 1. */
export function ones(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
  return new Tensor(new Float32Array(sizeOf(shape)).fill(value), shape, opts);
}

/** Uniform U(lo, hi) entries from a seeded generator. */
export function randUniform(shape: Shape, rng: Rng, lo = 0, hi = 1, opts: TensorOptions = {}): Tensor {
  const t = zeros(shape, opts);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.uniform(lo, hi);
  return t;
}

/** Normal N(mean, std^2) entries from a seeded generator. */
export function randNormal(shape: Shape, rng: Rng, mean = 0, std = 1, opts: TensorOptions = {}): Tensor {
  const t = zeros(shape, opts);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal(mean, std);
  return t;
}
