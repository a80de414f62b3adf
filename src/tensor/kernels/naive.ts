/**
 * The naive reference kernels: the most obvious loops, kept forever as the oracle that every fast
 * kernel is tested against. Do not optimise this file.
 */
import type { AdamHyper, BinaryOp, GemmOpts, Kernels, UnaryOp } from "./types.js";

/**
 * Calls fn(o, ia, ib) for every output index o of `outShape`, with ia / ib the matching flat indices
 * into the two (broadcast) inputs. Counters advance incrementally: no division per element.
 */
function forEachBroadcast(outShape: readonly number[], sa: Int32Array, sb: Int32Array, fn: (o: number, ia: number, ib: number) => void): void {
  let n = 1;
  for (const d of outShape) n *= d;
  const rank = outShape.length;
  const idx = new Int32Array(rank);
  let ia = 0;
  let ib = 0;
  for (let o = 0; o < n; o++) {
    fn(o, ia, ib);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      ia += sa[d]!;
      ib += sb[d]!;
      if (idx[d]! < outShape[d]!) break;
      ia -= sa[d]! * outShape[d]!;
      ib -= sb[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
}

const FORWARD: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
};

function binary(op: BinaryOp, y: Float32Array, a: Float32Array, b: Float32Array, shape: readonly number[], sa: Int32Array | null, sb: Int32Array | null): void {
  const f = FORWARD[op];
  if (!sa || !sb) {
    for (let i = 0; i < y.length; i++) y[i] = f(a[i]!, b[i]!);
    return;
  }
  forEachBroadcast(shape, sa, sb, (o, ia, ib) => {
    y[o] = f(a[ia]!, b[ib]!);
  });
}

function binaryBackward(op: BinaryOp, ga: Float32Array | null, gb: Float32Array | null, dy: Float32Array, A: Float32Array, B: Float32Array, shape: readonly number[], sa: Int32Array, sb: Int32Array): void {
  // d(a op b)/da and /db, multiplied by dy and accumulated at the (possibly shared) input index.
  forEachBroadcast(shape, sa, sb, (o, ia, ib) => {
    const g = dy[o]!;
    const av = A[ia]!;
    const bv = B[ib]!;
    switch (op) {
      case "add":
        if (ga) ga[ia] = ga[ia]! + g;
        if (gb) gb[ib] = gb[ib]! + g;
        break;
      case "sub":
        if (ga) ga[ia] = ga[ia]! + g;
        if (gb) gb[ib] = gb[ib]! - g;
        break;
      case "mul":
        if (ga) ga[ia] = ga[ia]! + g * bv;
        if (gb) gb[ib] = gb[ib]! + g * av;
        break;
      case "div":
        if (ga) ga[ia] = ga[ia]! + g / bv;
        if (gb) gb[ib] = gb[ib]! - (g * av) / (bv * bv);
        break;
    }
  });
}

function gemm(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o: GemmOpts = {}): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = o.transA ? a[p * m + i]! : a[i * k + p]!;
        const bv = o.transB ? b[j * k + p]! : b[p * n + j]!;
        s += av * bv;
      }
      out[i * n + j] = o.accumulate ? out[i * n + j]! + s : s;
      if (o.bias || o.relu) {
        const v = out[i * n + j]! + (o.bias ? o.bias[j]! : 0);
        out[i * n + j] = o.relu && v <= 0 ? 0 : v;
      }
    }
  }
}

function addRowVector(out: Float32Array, x: Float32Array, bias: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c]! + bias[c]!;
}

function sumRowsInto(out: Float32Array, x: Float32Array, rows: number, cols: number): void {
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * cols + c]!;
    out[c] = out[c]! + s;
  }
}

function relu(y: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = x[i]! <= 0 ? 0 : x[i]!; // a NaN stays NaN, -0 becomes +0
}

function reluBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) if (y[i]! > 0) dx[i] = dx[i]! + dy[i]!;
}

/** Stable logistic: for x < 0 use e^x / (1 + e^x) so that e^-x never overflows. */
export function sigmoidScalar(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Stable softplus(x) = ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|). */
export function softplusScalar(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** ln(e^u + e^v + e^w) without overflow. */
function logSumExp3(u: number, v: number, w: number): number {
  const m = Math.max(u, v, w);
  return m + Math.log(Math.exp(u - m) + Math.exp(v - m) + Math.exp(w - m));
}

function bceWithLogitsProduct(da: Float32Array, db: Float32Array, a: Float32Array, b: Float32Array, y: Float32Array, w: Float32Array | null, n: number): number {
  let wsum = 0;
  for (let i = 0; i < n; i++) wsum += w ? w[i]! : 1;
  let loss = 0;
  if (!(wsum > 0)) return 0;
  for (let i = 0; i < n; i++) {
    const wi = (w ? w[i]! : 1) / wsum;
    if (wi === 0) continue;
    const av = a[i]!;
    const bv = b[i]!;
    const yi = y[i]!;
    const lsa = -softplusScalar(-av); // ln sig(a)
    const lsb = -softplusScalar(-bv);
    const logP = lsa + lsb;
    const log1mP = logSumExp3(-av, -bv, -av - bv) + logP;
    loss += -wi * (yi * logP + (1 - yi) * log1mP);
    const lsNegA = -softplusScalar(av); // ln sig(-a)
    const lsNegB = -softplusScalar(bv);
    const ra = Math.exp(logP + lsNegA - log1mP);
    const rb = Math.exp(logP + lsNegB - log1mP);
    da[i] = wi * (-yi * Math.exp(lsNegA) + (1 - yi) * ra);
    db[i] = wi * (-yi * Math.exp(lsNegB) + (1 - yi) * rb);
  }
  return loss;
}

function fieldColumn(out: Float32Array, x: Float32Array, batch: number, fields: number, f: number, dim: number): void {
  for (let b = 0; b < batch; b++) {
    const src = (b * fields + f) * dim;
    for (let d = 0; d < dim; d++) out[b * dim + d] = x[src + d]!;
  }
}

function bagForward(y: Float32Array, table: Float32Array, ids: Int32Array, offsets: Int32Array, coef: Float32Array, dim: number): void {
  for (let b = 0; b + 1 < offsets.length; b++) {
    const o = b * dim;
    for (let i = offsets[b]!; i < offsets[b + 1]!; i++) {
      const src = ids[i]! * dim;
      const c = coef[i]!;
      for (let d = 0; d < dim; d++) y[o + d] = y[o + d]! + c * table[src + d]!;
    }
  }
}

function bagBackward(vals: Float32Array, dy: Float32Array, offsets: Int32Array, coef: Float32Array, dim: number): void {
  for (let b = 0; b + 1 < offsets.length; b++) {
    for (let i = offsets[b]!; i < offsets[b + 1]!; i++) {
      const c = coef[i]!;
      for (let d = 0; d < dim; d++) vals[i * dim + d] = c * dy[b * dim + d]!;
    }
  }
}

const UNARY: Record<UnaryOp, { f: (v: number) => number; df: (xv: number, yv: number) => number }> = {
  neg: { f: (v) => -v, df: () => -1 },
  exp: { f: Math.exp, df: (_x, y) => y },
  log: { f: Math.log, df: (xv) => 1 / xv },
  softplus: { f: (v) => softplusScalar(v), df: (xv) => sigmoidScalar(xv) },
  logSigmoid: { f: (v) => -softplusScalar(-v), df: (xv) => sigmoidScalar(-xv) },
};

function unary(op: UnaryOp, y: Float32Array, x: Float32Array, n: number): void {
  const f = UNARY[op].f;
  for (let i = 0; i < n; i++) y[i] = f(x[i]!);
}

function unaryBackward(op: UnaryOp, dx: Float32Array, dy: Float32Array, x: Float32Array, y: Float32Array, n: number): void {
  const df = UNARY[op].df;
  for (let i = 0; i < n; i++) dx[i] = dx[i]! + dy[i]! * df(x[i]!, y[i]!);
}

function sumAxis(y: Float32Array, x: Float32Array, outer: number, n: number, inner: number, scale: number): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += x[(o * n + k) * inner + i]!;
      y[o * inner + i] = s * scale;
    }
  }
}

function sumAxisBackward(dx: Float32Array, dy: Float32Array, outer: number, n: number, inner: number, scale: number): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const d = dy[o * inner + i]! * scale;
      for (let k = 0; k < n; k++) dx[(o * n + k) * inner + i]! += d;
    }
  }
}

function groupBySlot(first: Int32Array, rows: Int32Array, slot: Int32Array, u: number): void {
  for (let r = 0; r < slot.length; r++) first[slot[r]! + 1]!++;
  for (let s = 0; s < u; s++) first[s + 1]! += first[s]!;
  const next = first.slice(0, u);
  for (let r = 0; r < slot.length; r++) rows[next[slot[r]!]!++] = r;
}

function addScaled(out: Float32Array, x: Float32Array, s: number, n: number): void {
  for (let i = 0; i < n; i++) out[i] = out[i]! + s * x[i]!;
}

function zero(x: Float32Array): void {
  x.fill(0);
}

function countNonFinite(x: Float32Array, n: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i]!)) count++;
  return count;
}

function mixExperts(y: Float32Array, gates: Float32Array, experts: readonly Float32Array[], batch: number, width: number): void {
  const E = experts.length;
  for (let e = 0; e < E; e++) {
    const X = experts[e]!;
    for (let b = 0; b < batch; b++) {
      const g = gates[b * E + e]!;
      const o = b * width;
      for (let h = 0; h < width; h++) y[o + h] = y[o + h]! + g * X[o + h]!;
    }
  }
}

function mixExpertsBackward(dgates: Float32Array | null, dexperts: ReadonlyArray<Float32Array | null>, dy: Float32Array, gates: Float32Array, experts: readonly Float32Array[], batch: number, width: number): void {
  const E = experts.length;
  for (let e = 0; e < E; e++) {
    const X = experts[e]!;
    const gx = dexperts[e] ?? null;
    for (let b = 0; b < batch; b++) {
      const o = b * width;
      const g = gates[b * E + e]!;
      let dot = 0;
      for (let h = 0; h < width; h++) {
        const d = dy[o + h]!;
        dot += d * X[o + h]!;
        if (gx) gx[o + h] = gx[o + h]! + g * d;
      }
      if (dgates) dgates[b * E + e] = dgates[b * E + e]! + dot;
    }
  }
}

function copyColumns(dst: Float32Array, ds: number, dc: number, src: Float32Array, ss: number, sc: number, width: number, rows: number, add: boolean): void {
  for (let r = 0; r < rows; r++) {
    const d0 = r * ds + dc;
    const s0 = r * ss + sc;
    if (add) for (let c = 0; c < width; c++) dst[d0 + c] = dst[d0 + c]! + src[s0 + c]!;
    else for (let c = 0; c < width; c++) dst[d0 + c] = src[s0 + c]!;
  }
}

function sigmoid(y: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = sigmoidScalar(x[i]!);
}

function sigmoidBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = dx[i]! + dy[i]! * y[i]! * (1 - y[i]!);
}

function softmaxRows(y: Float32Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity;
    for (let c = 0; c < cols; c++) mx = Math.max(mx, x[r * cols + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - mx);
    for (let c = 0; c < cols; c++) y[r * cols + c] = Math.exp(x[r * cols + c]! - mx) / s;
  }
}

function softmaxRowsBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += dy[r * cols + c]! * y[r * cols + c]!;
    for (let c = 0; c < cols; c++) dx[r * cols + c] = dx[r * cols + c]! + y[r * cols + c]! * (dy[r * cols + c]! - dot);
  }
}

function gatherRows(out: Float32Array, table: Float32Array, ids: Int32Array, dim: number): void {
  for (let i = 0; i < ids.length; i++) for (let d = 0; d < dim; d++) out[i * dim + d] = table[ids[i]! * dim + d]!;
}

function scatterAddRows(grad: Float32Array, dOut: Float32Array, ids: Int32Array, dim: number): void {
  for (let i = 0; i < ids.length; i++) for (let d = 0; d < dim; d++) grad[ids[i]! * dim + d] = grad[ids[i]! * dim + d]! + dOut[i * dim + d]!;
}

function gatherFields(out: Float32Array, tables: readonly Float32Array[], ids: Int32Array, batch: number, dim: number): void {
  const F = tables.length;
  for (let b = 0; b < batch; b++)
    for (let f = 0; f < F; f++)
      for (let d = 0; d < dim; d++) out[(b * F + f) * dim + d] = tables[f]![ids[b * F + f]! * dim + d]!;
}

function sumRowBags(out: Float32Array, x: Float32Array, offsets: Int32Array, rows: Int32Array, dim: number, accumulate: boolean, relu: boolean): void {
  for (let g = 0; g + 1 < offsets.length; g++) {
    for (let d = 0; d < dim; d++) {
      let s = accumulate ? out[g * dim + d]! : 0;
      for (let i = offsets[g]!; i < offsets[g + 1]!; i++) s += x[rows[i]! * dim + d]!;
      out[g * dim + d] = relu && s <= 0 ? 0 : s;
    }
  }
}

function bceWithLogits(dz: Float32Array, z: Float32Array, y: Float32Array, w: Float32Array | null, n: number): number {
  let wsum = 0;
  for (let i = 0; i < n; i++) wsum += w ? w[i]! : 1;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i]! : 1;
    const zi = z[i]!;
    loss += wi * (Math.max(zi, 0) - y[i]! * zi + Math.log1p(Math.exp(-Math.abs(zi))));
    dz[i] = wsum > 0 ? (wi * (sigmoidScalar(zi) - y[i]!)) / wsum : 0;
  }
  return wsum > 0 ? loss / wsum : 0;
}

function adamDense(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, h: AdamHyper): void {
  for (let i = 0; i < n; i++) {
    const gi = g[i]! * h.gradScale;
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * gi;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * gi * gi;
    // PyTorch's form: denom = sqrt(v) / sqrt(1 - beta2^t) + eps;  p -= lr / (1 - beta1^t) * m / denom
    const denom = Math.sqrt(v[i]!) / Math.sqrt(h.bc2) + h.eps;
    p[i] = p[i]! * (1 - h.lr * h.weightDecay) - ((h.lr / h.bc1) * m[i]!) / denom;
  }
}

function adamRows(p: Float32Array, g: Float32Array, rows: Int32Array, m: Float32Array, v: Float32Array, dim: number, h: AdamHyper): void {
  for (let r = 0; r < rows.length; r++) {
    for (let d = 0; d < dim; d++) {
      const i = rows[r]! * dim + d;
      const gi = g[r * dim + d]! * h.gradScale;
      m[i] = h.beta1 * m[i]! + (1 - h.beta1) * gi;
      v[i] = h.beta2 * v[i]! + (1 - h.beta2) * gi * gi;
      const denom = Math.sqrt(v[i]!) / Math.sqrt(h.bc2) + h.eps;
      p[i] = p[i]! * (1 - h.lr * h.weightDecay) - ((h.lr / h.bc1) * m[i]!) / denom;
    }
  }
}

/** The `naive` backend: the plainest implementation of every kernel, the oracle the other sets are tested against. */
export const naiveKernels: Kernels = {
  gemm,
  addRowVector,
  sumRowsInto,
  relu,
  reluBackward,
  bceWithLogitsProduct,
  addScaled,
  countNonFinite,
  zero,
  mixExperts,
  mixExpertsBackward,
  copyColumns,
  groupBySlot,
  unary,
  unaryBackward,
  sumAxis,
  sumAxisBackward,
  binary,
  binaryBackward,
  fieldColumn,
  bagForward,
  bagBackward,
  sigmoid,
  sigmoidBackward,
  softmaxRows,
  softmaxRowsBackward,
  gatherRows,
  scatterAddRows,
  gatherFields,
  sumRowBags,
  bceWithLogits,
  adamDense,
  adamRows,
};
