/**
 * The kernel contract: pure functions on typed arrays.
 *
 * A kernel never sees a Tensor, never allocates its output (the caller passes `out`), and keeps its
 * arguments monomorphic (always Float32Array / Int32Array), so that each one can be benchmarked alone
 * and swapped for a faster variant. Two sets implement this interface:
 *  - `naiveKernels` (naive.ts): obvious loops, kept forever as the oracle;
 *  - `fastKernels`  (fast.ts):  blocked / fused variants, tested against the naive set.
 *
 * Conventions: row-major; `dx += ...` in backward kernels (gradients accumulate); `n` is an element
 * count, `rows x cols` a matrix.
 */
export interface GemmOpts {
  /** Read `a` as its transpose: a is stored [k, m]. */
  transA?: boolean;
  /** Read `b` as its transpose: b is stored [n, k]. */
  transB?: boolean;
  /** out += result instead of out = result. */
  accumulate?: boolean;
  /**
   * An epilogue applied as each entry is stored (no extra pass over out): the float32 result
   * (out + result with `accumulate`, rounded) plus bias[j] for column j, then ReLU with `relu`.
   * Exactly what gemm, then addRowVector, then relu would store.
   */
  bias?: Float32Array | null;
  relu?: boolean;
}

/** A buffer lent by a backend from memory of its own (see Kernels.alloc). */
export interface BackendBuffer {
  data: Float32Array;
  /** Gives the buffer back to the backend. */
  release: () => void;
}

/** A backend's memory as several threads use it (see Kernels.sharedMemory). */
export interface SharedMemory {
  readonly memory: WebAssembly.Memory;
  /** Whether an array is a view of this memory. */
  owns(x: Float32Array): boolean;
  /** `n` floats at byte offset `at` of this memory, as this thread's view. */
  view(at: number, n: number): Float32Array;
  /** The regions ([byte offset, bytes]) this thread has taken from the memory: a thread that ends hands them back (retire). */
  regions(): Array<[number, number]>;
  /** Keeps an ended thread's regions for the next thread that adopts the memory (without this, a worker's memory would stay taken after it stops). */
  retire(regions: ReadonlyArray<readonly [number, number]>): void;
  /** Takes the retired regions out, for a thread about to adopt the memory (adoptMemory's second argument). */
  handOut(): Array<[number, number]>;
}

/** The kernel contract: every hot loop an op needs, as a pure function on typed arrays. A backend is one object implementing it. */
export interface Kernels {
  /**
   * Optional: n zeroed floats in memory this set's kernels read and write in place (a wasm backend's
   * linear memory), valid until `release`; null (or no method) for an ordinary Float32Array. Step
   * arenas take their buffers here.
   */
  alloc?(n: number): BackendBuffer | null;
  /**
   * Optional: the memory of `alloc`'s buffers, where other threads can compute in it too (a shared
   * WebAssembly.Memory); null or absent otherwise. Data-parallel training hands its workers this.
   */
  sharedMemory?(): SharedMemory | null;
  /** Optional: from now on this thread's kernels compute in `memory`, another thread's sharedMemory (before this thread allocates). */
  adoptMemory?(memory: WebAssembly.Memory, regions?: ReadonlyArray<readonly [number, number]>): void;
  /**
   * Optional: the fraction of a batch's rows with distinct ids below which a field's first layers
   * are faster per distinct id than over the materialised input, with this set's kernels (see
   * src/autograd/ops/fields.ts; 0.6 when absent, measured with the ts set).
   */
  readonly perIdMaxDistinct?: number;

  /** out[m x n] (+)= op(a)[m x k] . op(b)[k x n].  Cost 2*m*n*k flops. */
  gemm(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o?: GemmOpts): void;

  /** out[r, c] = x[r, c] + bias[c]  (row broadcast of a bias). out may alias x. */
  addRowVector(out: Float32Array, x: Float32Array, bias: Float32Array, rows: number, cols: number): void;
  /** out[c] += sum_r x[r, c]  (the bias gradient). */
  sumRowsInto(out: Float32Array, x: Float32Array, rows: number, cols: number): void;

  /**
   * y = max(x, 0), as IEEE 754's maximum: -0 becomes +0 and a NaN stays NaN (as in PyTorch and ONNX's
   * Relu), so a non-finite value inside a network reaches its outputs, where a check can see it,
   * instead of turning into a 0 that scores like any other. Every ReLU of the kernels (gemm's `relu`,
   * sumRowBags's) is this one.
   */
  relu(y: Float32Array, x: Float32Array, n: number): void;
  /** dx += dy * [y > 0] */
  reluBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void;
  /** y = 1 / (1 + e^-x), computed without overflow for any finite x. */
  sigmoid(y: Float32Array, x: Float32Array, n: number): void;
  /** dx += dy * y * (1 - y) */
  sigmoidBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void;

  /** Row-wise softmax of a [rows, cols] matrix, max-subtracted so a large logit gap cannot overflow. */
  softmaxRows(y: Float32Array, x: Float32Array, rows: number, cols: number): void;
  /** dx[r, :] += y[r, :] * (dy[r, :] - <dy[r, :], y[r, :]>) */
  softmaxRowsBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, rows: number, cols: number): void;

  /** out[i, :] = table[ids[i], :] for i < ids.length; table rows are `dim` wide. */
  gatherRows(out: Float32Array, table: Float32Array, ids: Int32Array, dim: number): void;
  /** grad[ids[i], :] += dOut[i, :]   (NOTE: +=, ids repeat within a batch) */
  scatterAddRows(grad: Float32Array, dOut: Float32Array, ids: Int32Array, dim: number): void;
  /**
   * The F-field embedding lookup written straight into the model input:
   * out[b, f*dim : (f+1)*dim] = tables[f][ids[b*F + f], :]   (out is [B, F*dim]).
   */
  gatherFields(out: Float32Array, tables: readonly Float32Array[], ids: Int32Array, batch: number, dim: number): void;

  /**
   * Sums of bags of rows: out[g, :] (+)= sum over i in [offsets[g], offsets[g+1]) of x[rows[i], :],
   * for g < offsets.length - 1; x and out rows are `dim` wide; the sum runs in doubles, i ascending.
   * With `relu`, ReLU is applied as out is stored.
   * (Per-id first layers use it both ways: spreading per-id products over a batch's rows, and
   * collecting a batch's gradient rows per id.)
   */
  sumRowBags(out: Float32Array, x: Float32Array, offsets: Int32Array, rows: Int32Array, dim: number, accumulate: boolean, relu: boolean): void;

  /**
   * Mean binary cross-entropy from logits with optional per-row weights (mean = sum / sum(weights)).
   * loss_i = softplus(z_i) - y_i * z_i  =  max(z,0) - y z + log(1 + e^-|z|).
   * Writes d loss / d z_i (already divided by the weight sum) into `dz`, returns the loss.
   */
  bceWithLogits(dz: Float32Array, z: Float32Array, y: Float32Array, w: Float32Array | null, n: number): number;

  /**
   * ESMM's CTCVR loss: mean BCE of p = sigmoid(a) sigmoid(b) against y, from the logits in log space
   * (see src/autograd/ops/loss.ts for the derivation), with optional row weights (mean = sum / sum w).
   * Writes d loss / d a_i and d loss / d b_i into `da`, `db`; returns the loss.
   */
  bceWithLogitsProduct(da: Float32Array, db: Float32Array, a: Float32Array, b: Float32Array, y: Float32Array, w: Float32Array | null, n: number): number;
  /** out[i] += s * x[i] (a backward's accumulation of a scaled gradient). */
  addScaled(out: Float32Array, x: Float32Array, s: number, n: number): void;
  /** How many of x[0 .. n) are NaN or infinite (the check of every gradient before an update). */
  countNonFinite(x: Float32Array, n: number): number;
  /** Sets every element of x to 0 (step buffers, gradients before the next step). */
  zero(x: Float32Array): void;
  /**
   * The MMoE mixture: y[b, :] += sum_e gates[b, e] * experts[e][b, :]  (y [B, H], gates [B, E]).
   */
  mixExperts(y: Float32Array, gates: Float32Array, experts: readonly Float32Array[], batch: number, width: number): void;
  /**
   * Its backward: dgates[b, e] += <dy[b, :], experts[e][b, :]>, dexperts[e][b, :] += gates[b, e] dy[b, :]
   * (a null output skips that gradient).
   */
  mixExpertsBackward(dgates: Float32Array | null, dexperts: ReadonlyArray<Float32Array | null>, dy: Float32Array, gates: Float32Array, experts: readonly Float32Array[], batch: number, width: number): void;
  /**
   * Columns of one row-major matrix into another: dst[r, dc .. dc + width) (+)= src[r, sc .. sc + width)
   * for r < rows; ds and ss are the row strides (the per-id first layer's blocks of W).
   */
  copyColumns(dst: Float32Array, ds: number, dc: number, src: Float32Array, ss: number, sc: number, width: number, rows: number, add: boolean): void;

  /** out[b, :] = x[b, f*dim : (f+1)*dim] for b < batch: field f's block of a [batch, fields*dim] matrix (gatherFields' backward). */
  fieldColumn(out: Float32Array, x: Float32Array, batch: number, fields: number, f: number, dim: number): void;
  /** Pooled bags: y[b, :] += sum over i in [offsets[b], offsets[b+1]) of coef[i] * table[ids[i], :] (embeddingBag). */
  bagForward(y: Float32Array, table: Float32Array, ids: Int32Array, offsets: Int32Array, coef: Float32Array, dim: number): void;
  /** Its backward, one gradient row per id: vals[i, :] = coef[i] * dy[b, :] for each i of bag b. */
  bagBackward(vals: Float32Array, dy: Float32Array, offsets: Int32Array, coef: Float32Array, dim: number): void;

  /**
   * y = a op b elementwise, broadcast like NumPy: over every index of `shape`, a and b are read at
   * their broadcast strides `sa`, `sb` (a stride of 0 repeats an entry; see broadcastStrides); null
   * strides mean both have `shape` itself.
   */
  binary(op: BinaryOp, y: Float32Array, a: Float32Array, b: Float32Array, shape: readonly number[], sa: Int32Array | null, sb: Int32Array | null): void;
  /** Its backward: ga += d(a op b)/da * dy, gb += d(a op b)/db * dy, summed where an input was broadcast (null skips one). */
  binaryBackward(op: BinaryOp, ga: Float32Array | null, gb: Float32Array | null, dy: Float32Array, a: Float32Array, b: Float32Array, shape: readonly number[], sa: Int32Array, sb: Int32Array): void;

  /** y = f(x) elementwise for f one of neg, exp, log, softplus (stable), logSigmoid (stable). */
  unary(op: UnaryOp, y: Float32Array, x: Float32Array, n: number): void;
  /** dx += dy * f'(x), f' written with x or with the saved y (exp: y; softplus: sigmoid(x); ...). */
  unaryBackward(op: UnaryOp, dx: Float32Array, dy: Float32Array, x: Float32Array, y: Float32Array, n: number): void;
  /** y[o, i] = scale * sum_k x[o, k, i] (x viewed as [outer, n, inner]; the sum in doubles, k ascending). */
  sumAxis(y: Float32Array, x: Float32Array, outer: number, n: number, inner: number, scale: number): void;
  /** Its backward: dx[o, k, i] += scale * dy[o, i]. */
  sumAxisBackward(dx: Float32Array, dy: Float32Array, outer: number, n: number, inner: number, scale: number): void;

  /**
   * Rows grouped by slot (a counting sort): afterwards rows[first[s] .. first[s + 1]) are, ascending,
   * the r with slot[r] = s, for s < u. `first` has u + 1 entries and `rows` slot.length, both zeroed.
   */
  groupBySlot(first: Int32Array, rows: Int32Array, slot: Int32Array, u: number): void;

  /** Adam / AdamW update of a dense parameter; see src/optim/adam.ts for the formulas. */
  adamDense(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, h: AdamHyper): void;
  /**
   * Lazy (row-sparse) Adam: only rows listed in `rows` move, and their moments too.
   * `g` holds one gradient row per entry of `rows` (rows must be unique).
   */
  adamRows(p: Float32Array, g: Float32Array, rows: Int32Array, m: Float32Array, v: Float32Array, dim: number, h: AdamHyper): void;
}

/** An elementwise op of two tensors. */
export type BinaryOp = "add" | "sub" | "mul" | "div";
/** An elementwise op of one tensor. */
export type UnaryOp = "neg" | "exp" | "log" | "softplus" | "logSigmoid";

/** Per-step Adam constants, bias corrections folded in. */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay (AdamW); 0 for plain Adam. */
  weightDecay: number;
  /** 1 - beta1^t */
  bc1: number;
  /** 1 - beta2^t */
  bc2: number;
  /** multiply gradients by this first (global-norm clipping); 1 for none. */
  gradScale: number;
}
