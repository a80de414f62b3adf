/**
 * The fast kernels, in plain TypeScript (no WebAssembly, no SIMD).
 *
 * gemm packs op(A) into panels of 4 rows and op(B) into panels of 4 columns, each stored k-major, then
 * runs a 4x4 register-tiled micro-kernel over the packed panels. Because the transposes are absorbed
 * by packing, A@B, A^T@B and A@B^T all run the same inner loop at the same speed. The inner loop
 * accumulates in doubles over p = 0..k-1, exactly as the naive kernel does, so results agree bit for bit.
 *
 * Every kernel here is tested against naive.ts on awkward shapes (1, 7, 33 ...).
 */
import { firstNonFinite } from "../finite.js";
import { naiveKernels } from "./naive.js";
import type { AdamHyper, GemmOpts, Kernels } from "./types.js";

// Packing scratch, grown on demand and reused: after the first step at a given size nothing allocates.
let packA = new Float64Array(0);
let packB = new Float64Array(0);

/**
 * Packs a matrix into panels of 4 along its "count" dimension, each stored k-major: panel q holds
 * entries 4q..4q+3 for p = 0..k-1 as k groups of 4, zero-padded past `count`. With `kMajor` the matrix
 * is stored [k, count] (entry i at p is x[p * count + i]), otherwise [count, k] (x[i * k + p]).
 * op(A) packs as (a, m, k, transA) and op(B) as (b, n, k, !transB): the same two layouts.
 */
function packPanels(dst: Float64Array, x: Float32Array, count: number, k: number, kMajor: boolean): void {
  const panels = (count + 3) >> 2;
  for (let q = 0; q < panels; q++) {
    const base = q * k * 4;
    const i0 = q * 4;
    if (kMajor && i0 + 4 <= count) {
      // the panel's four entries are four contiguous floats per p
      for (let p = 0, src = i0, d = base; p < k; p++, src += count, d += 4) {
        dst[d] = x[src]!;
        dst[d + 1] = x[src + 1]!;
        dst[d + 2] = x[src + 2]!;
        dst[d + 3] = x[src + 3]!;
      }
      continue;
    }
    for (let r = 0; r < 4; r++) {
      const i = i0 + r;
      if (i >= count) {
        for (let p = 0; p < k; p++) dst[base + p * 4 + r] = 0;
      } else if (kMajor) {
        for (let p = 0, src = i; p < k; p++, src += count) dst[base + p * 4 + r] = x[src]!;
      } else {
        const src = i * k;
        for (let p = 0; p < k; p++) dst[base + p * 4 + r] = x[src + p]!;
      }
    }
  }
}

/** The gemm epilogue for one stored entry (see GemmOpts.bias / relu): fround(v) + bias[j], then ReLU. */
function epilogue(v: number, bias: Float32Array | null, j: number, relu: boolean): number {
  const x = Math.fround(v) + (bias ? bias[j]! : 0);
  return relu && x <= 0 ? 0 : x;
}

/**
 * A product with one or two rows or columns (a tower's logit, a gate's two columns): one dot product
 * per entry, in doubles, p ascending, the naive kernel's order (so its bits), with no packing, which
 * would pad such a product to four times its work.
 */
function gemmNarrow(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o: GemmOpts | undefined): void {
  const transA = o?.transA === true;
  const transB = o?.transB === true;
  const accumulate = o?.accumulate === true;
  const bias = o?.bias ?? null;
  const relu = o?.relu === true;
  const stepA = transA ? m : 1; // a's step along p
  const rowA = transA ? 1 : k; // and from row i to i + 1
  const stepB = transB ? 1 : n;
  const colB = transB ? k : 1;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0, pa = i * rowA, pb = j * colB; p < k; p++, pa += stepA, pb += stepB) s += a[pa]! * b[pb]!;
      const at = i * n + j;
      out[at] = accumulate ? out[at]! + s : s;
      if (bias || relu) {
        const v = out[at]! + (bias ? bias[j]! : 0);
        out[at] = relu && v <= 0 ? 0 : v;
      }
    }
  }
}

function gemm(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o?: GemmOpts): void {
  if (n <= 2 || m <= 2) {
    gemmNarrow(out, a, b, m, n, k, o);
    return;
  }
  const accumulate = o?.accumulate === true;
  const bias = o?.bias ?? null;
  const relu = o?.relu === true;
  const epi = bias !== null || relu;
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!accumulate) out.fill(0, 0, m * n);
    if (epi) for (let i = 0; i < m * n; i++) out[i] = epilogue(out[i]!, bias, i % n, relu);
    return;
  }
  const mp = (m + 3) >> 2;
  const np = (n + 3) >> 2;
  if (packA.length < mp * k * 4) packA = new Float64Array(mp * k * 4);
  if (packB.length < np * k * 4) packB = new Float64Array(np * k * 4);
  const A = packA;
  const B = packB;
  packPanels(A, a, m, k, o?.transA === true);
  packPanels(B, b, n, k, o?.transB !== true);
  const kk = k * 4;
  for (let ip = 0; ip < mp; ip++) {
    const i0 = ip * 4;
    const aBase = ip * kk;
    for (let jp = 0; jp < np; jp++) {
      const j0 = jp * 4;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let pa = aBase;
      let pb = jp * kk;
      const end = aBase + kk;
      for (; pa < end; pa += 4, pb += 4) {
        // One b at a time: 16 accumulators + 4 a + 1 b stay closer to the 16 registers than 4 a + 4 b.
        const a0 = A[pa]!, a1 = A[pa + 1]!, a2 = A[pa + 2]!, a3 = A[pa + 3]!;
        let b = B[pb]!;
        c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b;
        b = B[pb + 1]!;
        c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b;
        b = B[pb + 2]!;
        c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b;
        b = B[pb + 3]!;
        c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b;
      }
      if (i0 + 4 <= m && j0 + 4 <= n && !(epi && accumulate)) {
        let r = i0 * n + j0;
        if (accumulate) {
          out[r] = out[r]! + c00; out[r + 1] = out[r + 1]! + c01; out[r + 2] = out[r + 2]! + c02; out[r + 3] = out[r + 3]! + c03; r += n;
          out[r] = out[r]! + c10; out[r + 1] = out[r + 1]! + c11; out[r + 2] = out[r + 2]! + c12; out[r + 3] = out[r + 3]! + c13; r += n;
          out[r] = out[r]! + c20; out[r + 1] = out[r + 1]! + c21; out[r + 2] = out[r + 2]! + c22; out[r + 3] = out[r + 3]! + c23; r += n;
          out[r] = out[r]! + c30; out[r + 1] = out[r + 1]! + c31; out[r + 2] = out[r + 2]! + c32; out[r + 3] = out[r + 3]! + c33;
        } else if (epi) {
          // Bias and ReLU as the tile is stored: the pass over out that addRowVector and relu would make.
          const j1 = j0 + 1, j2 = j0 + 2, j3 = j0 + 3;
          out[r] = epilogue(c00, bias, j0, relu); out[r + 1] = epilogue(c01, bias, j1, relu); out[r + 2] = epilogue(c02, bias, j2, relu); out[r + 3] = epilogue(c03, bias, j3, relu); r += n;
          out[r] = epilogue(c10, bias, j0, relu); out[r + 1] = epilogue(c11, bias, j1, relu); out[r + 2] = epilogue(c12, bias, j2, relu); out[r + 3] = epilogue(c13, bias, j3, relu); r += n;
          out[r] = epilogue(c20, bias, j0, relu); out[r + 1] = epilogue(c21, bias, j1, relu); out[r + 2] = epilogue(c22, bias, j2, relu); out[r + 3] = epilogue(c23, bias, j3, relu); r += n;
          out[r] = epilogue(c30, bias, j0, relu); out[r + 1] = epilogue(c31, bias, j1, relu); out[r + 2] = epilogue(c32, bias, j2, relu); out[r + 3] = epilogue(c33, bias, j3, relu);
        } else {
          out[r] = c00; out[r + 1] = c01; out[r + 2] = c02; out[r + 3] = c03; r += n;
          out[r] = c10; out[r + 1] = c11; out[r + 2] = c12; out[r + 3] = c13; r += n;
          out[r] = c20; out[r + 1] = c21; out[r + 2] = c22; out[r + 3] = c23; r += n;
          out[r] = c30; out[r + 1] = c31; out[r + 2] = c32; out[r + 3] = c33;
        }
      } else {
        // Edge tile: store only the part inside [m, n].
        const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
        for (let r = 0; r < 4 && i0 + r < m; r++) {
          for (let c = 0; c < 4 && j0 + c < n; c++) {
            const idx = (i0 + r) * n + j0 + c;
            const v = accumulate ? out[idx]! + tile[r * 4 + c]! : tile[r * 4 + c]!;
            out[idx] = epi ? epilogue(v, bias, j0 + c, relu) : v;
          }
        }
      }
    }
  }
}

function addRowVector(out: Float32Array, x: Float32Array, bias: Float32Array, rows: number, cols: number): void {
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    for (let c = 0; c < cols; c++) out[o + c] = x[o + c]! + bias[c]!;
  }
}

function sumRowsInto(out: Float32Array, x: Float32Array, rows: number, cols: number): void {
  // Column sums in one row-major pass would reorder the additions; keep r ascending per column so the
  // result matches the naive kernel bit for bit, but walk memory row by row through a scratch of doubles.
  if (acc.length < cols) acc = new Float64Array(cols);
  acc.fill(0, 0, cols);
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    for (let c = 0; c < cols; c++) acc[c] = acc[c]! + x[o + c]!;
  }
  for (let c = 0; c < cols; c++) out[c] = out[c]! + acc[c]!;
}
let acc = new Float64Array(0);

function softmaxRows(y: Float32Array, x: Float32Array, rows: number, cols: number): void {
  // One pass per row for the max, one that stores e^(x - max) and sums it, one that scales.
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    let mx = -Infinity;
    for (let c = 0; c < cols; c++) if (x[o + c]! > mx) mx = x[o + c]!;
    let s = 0;
    for (let c = 0; c < cols; c++) {
      const e = Math.exp(x[o + c]! - mx);
      y[o + c] = e;
      s += e;
    }
    // NOTE: y holds e rounded to float32; divide the same rounded values the naive kernel would not.
    // Tests compare with a tolerance for this kernel.
    const inv = 1 / s;
    for (let c = 0; c < cols; c++) y[o + c] = y[o + c]! * inv;
  }
}

function gatherRows(out: Float32Array, table: Float32Array, ids: Int32Array, dim: number): void {
  for (let i = 0, o = 0; i < ids.length; i++, o += dim) {
    const src = ids[i]! * dim;
    for (let d = 0; d < dim; d++) out[o + d] = table[src + d]!;
  }
}

function scatterAddRows(grad: Float32Array, dOut: Float32Array, ids: Int32Array, dim: number): void {
  for (let i = 0, o = 0; i < ids.length; i++, o += dim) {
    const dst = ids[i]! * dim;
    for (let d = 0; d < dim; d++) grad[dst + d] = grad[dst + d]! + dOut[o + d]!;
  }
}

function gatherFields(out: Float32Array, tables: readonly Float32Array[], ids: Int32Array, batch: number, dim: number): void {
  const F = tables.length;
  for (let f = 0; f < F; f++) {
    const t = tables[f]!;
    for (let b = 0, o = f * dim, idx = f; b < batch; b++, o += F * dim, idx += F) {
      const src = ids[idx]! * dim;
      for (let d = 0; d < dim; d++) out[o + d] = t[src + d]!;
    }
  }
}

function sumRowBags(out: Float32Array, x: Float32Array, offsets: Int32Array, rows: Int32Array, dim: number, accumulate: boolean, relu: boolean): void {
  // Eight columns at a time held in registers across the whole bag, so the running sums never go
  // through memory, and each row index is read once per eight columns; a bag's rows (24 of them for a
  // per-id first layer) stay in L1 between the column groups. (Eight ran about 1.2x faster than four
  // at the workload's shape here.) The additions happen in the naive kernel's order: the same bits.
  const d8 = dim & ~7;
  for (let g = 0, o = 0; g + 1 < offsets.length; g++, o += dim) {
    const lo = offsets[g]!;
    const hi = offsets[g + 1]!;
    for (let d = 0; d < d8; d += 8) {
      const q = o + d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
      if (accumulate) {
        s0 = out[q]!; s1 = out[q + 1]!; s2 = out[q + 2]!; s3 = out[q + 3]!;
        s4 = out[q + 4]!; s5 = out[q + 5]!; s6 = out[q + 6]!; s7 = out[q + 7]!;
      }
      for (let i = lo; i < hi; i++) {
        const src = rows[i]! * dim + d;
        s0 += x[src]!; s1 += x[src + 1]!; s2 += x[src + 2]!; s3 += x[src + 3]!;
        s4 += x[src + 4]!; s5 += x[src + 5]!; s6 += x[src + 6]!; s7 += x[src + 7]!;
      }
      if (relu) {
        out[q] = s0 <= 0 ? 0 : s0; out[q + 1] = s1 <= 0 ? 0 : s1; out[q + 2] = s2 <= 0 ? 0 : s2; out[q + 3] = s3 <= 0 ? 0 : s3;
        out[q + 4] = s4 <= 0 ? 0 : s4; out[q + 5] = s5 <= 0 ? 0 : s5; out[q + 6] = s6 <= 0 ? 0 : s6; out[q + 7] = s7 <= 0 ? 0 : s7;
      } else {
        out[q] = s0; out[q + 1] = s1; out[q + 2] = s2; out[q + 3] = s3;
        out[q + 4] = s4; out[q + 5] = s5; out[q + 6] = s6; out[q + 7] = s7;
      }
    }
    for (let d = d8; d < dim; d++) {
      let s0 = accumulate ? out[o + d]! : 0;
      for (let i = lo; i < hi; i++) s0 += x[rows[i]! * dim + d]!;
      out[o + d] = relu && s0 <= 0 ? 0 : s0;
    }
  }
}

function bceWithLogits(dz: Float32Array, z: Float32Array, y: Float32Array, w: Float32Array | null, n: number): number {
  let wsum = n;
  if (w) {
    wsum = 0;
    for (let i = 0; i < n; i++) wsum += w[i]!;
  }
  if (!(wsum > 0)) {
    dz.fill(0, 0, n);
    return 0;
  }
  const inv = 1 / wsum;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const wi = w ? w[i]! : 1;
    const zi = z[i]!;
    const e = Math.exp(-Math.abs(zi)); // in (0, 1]: never overflows
    loss += wi * (Math.max(zi, 0) - y[i]! * zi + Math.log1p(e));
    const s = zi >= 0 ? 1 / (1 + e) : e / (1 + e); // sigmoid(z) reusing e
    dz[i] = wi * (s - y[i]!) * inv;
  }
  return loss * inv;
}

/** Adam's per-step constants with the bias corrections folded in (see src/optim/adam.ts). */
function adamConstants(h: AdamHyper): { c1: number; c2: number; step: number; sq2: number; decay: number } {
  return { c1: 1 - h.beta1, c2: 1 - h.beta2, step: h.lr / h.bc1, sq2: Math.sqrt(h.bc2), decay: 1 - h.lr * h.weightDecay };
}

/** The Adam update of `len` contiguous values: p, m, v from `at`, gradients from `gAt`. */
function adamSpan(p: Float32Array, g: Float32Array, gAt: number, m: Float32Array, v: Float32Array, at: number, len: number, h: AdamHyper, k: ReturnType<typeof adamConstants>): void {
  const { beta1, beta2, eps, gradScale } = h;
  const { c1, c2, step, sq2, decay } = k;
  for (let d = 0; d < len; d++) {
    const i = at + d;
    const gi = g[gAt + d]! * gradScale;
    m[i] = beta1 * m[i]! + c1 * gi;
    v[i] = beta2 * v[i]! + c2 * gi * gi;
    // Read back the float32-rounded moments, as the naive kernel (and PyTorch) do.
    p[i] = p[i]! * decay - (step * m[i]!) / (Math.sqrt(v[i]!) / sq2 + eps);
  }
}

function adamDense(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, h: AdamHyper): void {
  adamSpan(p, g, 0, m, v, 0, n, h, adamConstants(h));
}

function adamRows(p: Float32Array, g: Float32Array, rows: Int32Array, m: Float32Array, v: Float32Array, dim: number, h: AdamHyper): void {
  const k = adamConstants(h);
  for (let r = 0; r < rows.length; r++) adamSpan(p, g, r * dim, m, v, rows[r]! * dim, dim, h, k);
}


function countNonFinite(x: Float32Array, n: number): number {
  return firstNonFinite(n === x.length ? x : x.subarray(0, n))?.count ?? 0;
}

/** The `ts` backend: the TypeScript kernel set (blocked, register-tiled gemm; single-pass loops), tested against `naiveKernels`. */
export const fastKernels: Kernels = {
  ...naiveKernels,
  gemm,
  addRowVector,
  sumRowsInto,
  softmaxRows,
  gatherRows,
  scatterAddRows,
  gatherFields,
  sumRowBags,
  bceWithLogits,
  adamDense,
  adamRows,
  countNonFinite,
};
