/**
 * The wasm kernel set: the fast TypeScript kernels, with gemm replaced by the WebAssembly SIMD one
 * (src/tensor/wasm/gemm.ts). The module is emitted as bytes by our own builder at first use,
 * compiled synchronously (allowed for any size in Node and in Web Workers), and given one linear
 * memory that JS owns and grows.
 *
 * Operands are copied into that memory for each call (Float32Array.set, a memcpy) and the result
 * copied back; the copies are O(mk + kn + mn) against the 2mnk flops of the product.
 */
import { ModuleBuilder } from "../wasm/builder.js";
import { ADD_BIAS, LOAD_C, RELU, addGemm } from "../wasm/gemm.js";
import { fastKernels } from "./fast.js";
import type { GemmOpts, Kernels } from "./types.js";

/** A module using one SIMD instruction: what `WebAssembly.validate` must accept for the wasm backend. */
function simdProbe(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  m.fn("probe", [], [], (f) => {
    f.v128f32(1).v128f32(2).simd("f32x4.add").simd("f32x4.extract_lane", 0).op("drop");
  });
  return m.toBytes();
}

/** Whether this engine runs WebAssembly with 128-bit SIMD. */
export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(simdProbe());
  } catch {
    return false;
  }
}

/** The bytes of the kernel module (exported so the tests can validate exactly what runs). */
export function gemmModuleBytes(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  addGemm(m);
  return m.toBytes();
}

interface GemmExports {
  packA(src: number, dst: number, m: number, k: number, k0: number, kc: number, trans: number): void;
  packB(src: number, dst: number, n: number, k: number, k0: number, kc: number, trans: number): void;
  kernel(pa: number, pb: number, c: number, bias: number, mp: number, np: number, kc: number, ldc: number, flags: number, lda: number, m: number): void;
  kernelRows(a: number, pb: number, c: number, bias: number, mp: number, np: number, kc: number, ldc: number, flags: number, lda: number, m: number): void;
  sumRowBags(out: number, x: number, offsets: number, rows: number, groups: number, dim: number, accumulate: number, relu: number): void;
}

/** Depth of a k block: a packed B block of KC x 8 columns stays in L1 while a row panel streams by. */
const KC = 256;
/**
 * Below this many multiply-adds per row of the result (n x k) the TypeScript gemm runs: the copies
 * cost more than SIMD saves. The choice must not depend on m, the batch: a row's scores may not
 * change with the rows that share its batch (each path rounds differently).
 */
const SMALL_ROW = 256;

let exportsCache: GemmExports | null = null;
let warmupMs: number | null = null;
let memory: WebAssembly.Memory | null = null;
let heap = new Float32Array(0);

function instance(): GemmExports {
  if (exportsCache) return exportsCache;
  memory = new WebAssembly.Memory({ initial: 16 });
  const mod = new WebAssembly.Module(gemmModuleBytes() as Uint8Array<ArrayBuffer>);
  exportsCache = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as GemmExports;
  heap = new Float32Array(memory.buffer);
  // V8 first runs wasm code with its baseline compiler (3-5x slower here) and moves hot functions
  // to the optimising tier; a few products at start-up get there before a user's first step.
  const t0 = performance.now();
  const m = 64, n = 64, k = 256;
  const a = new Float32Array(m * k).fill(0.5), b = new Float32Array(k * n).fill(0.5), c = new Float32Array(m * n);
  for (let r = 0; r < 24; r++) gemm(c, a, b, m, n, k, r % 3 === 1 ? { transA: true } : r % 3 === 2 ? { transB: true, relu: true, bias: c.subarray(0, n) } : {});
  warmupMs = performance.now() - t0;
  return exportsCache;
}

/** Instantiates the wasm kernels now (if not yet) and returns how long the start-up warm-up took, in ms. */
export function wasmWarmup(): number {
  instance();
  return warmupMs ?? 0;
}

/** Makes the memory hold at least `floats` floats; views go stale when it grows, so `heap` is renewed. */
function reserve(floats: number): Float32Array {
  const mem = memory!;
  const need = floats * 4;
  if (mem.buffer.byteLength < need) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
  if (heap.buffer !== mem.buffer) heap = new Float32Array(mem.buffer);
  return heap;
}

function gemm(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o?: GemmOpts): void {
  if (n * k < SMALL_ROW || m === 0) {
    fastKernels.gemm(out, a, b, m, n, k, o);
    return;
  }
  const w = instance();
  const transA = o?.transA === true;
  const transB = o?.transB === true;
  const accumulate = o?.accumulate === true;
  const bias = o?.bias ?? null;
  const mp = (m + 3) >> 2;
  const np = (n + 7) >> 3;
  const ldc = np * 8;
  const kc = Math.min(KC, k);
  // layout, in floats: A | B | bias | C (padded) | packed A block | packed B block
  const oA = 0;
  const oB = oA + m * k;
  const oBias = oB + k * n;
  const oC = oBias + ldc;
  const oPA = oC + mp * 4 * ldc;
  const oPB = oPA + (transA ? mp * 4 * kc : 0); // A@B and A@B^T read A in place: no packed copy
  const h = reserve(oPB + np * 8 * kc);
  h.set(a.subarray(0, m * k), oA);
  h.set(b.subarray(0, k * n), oB);
  if (bias) h.set(bias.subarray(0, n), oBias);
  if (accumulate) {
    if (ldc === n) h.set(out.subarray(0, m * n), oC);
    else for (let i = 0; i < m; i++) h.set(out.subarray(i * n, i * n + n), oC + i * ldc);
  }
  for (let k0 = 0; k0 < k; k0 += KC) {
    const kb = Math.min(KC, k - k0);
    const last = k0 + kb === k;
    w.packB(oB * 4, oPB * 4, n, k, k0, kb, transB ? 1 : 0);
    const flags = (accumulate || k0 > 0 ? LOAD_C : 0) | (last && bias ? ADD_BIAS : 0) | (last && o?.relu ? RELU : 0);
    if (transA) {
      w.packA(oA * 4, oPA * 4, m, k, k0, kb, 1);
      w.kernel(oPA * 4, oPB * 4, oC * 4, oBias * 4, mp, np, kb, ldc, flags, k, m);
    } else w.kernelRows((oA + k0) * 4, oPB * 4, oC * 4, oBias * 4, mp, np, kb, ldc, flags, k, m);
  }
  if (ldc === n) out.set(h.subarray(oC, oC + m * n));
  else for (let i = 0; i < m; i++) out.set(h.subarray(oC + i * ldc, oC + i * ldc + n), i * n);
}

/** See Kernels.sumRowBags; bit-identical to the TypeScript kernels (sums in f64x2 lanes, same order). */
function sumRowBags(out: Float32Array, x: Float32Array, offsets: Int32Array, rows: Int32Array, dim: number, accumulate: boolean, relu: boolean): void {
  const groups = offsets.length - 1;
  if (dim % 8 !== 0 || groups < 1) {
    fastKernels.sumRowBags(out, x, offsets, rows, dim, accumulate, relu);
    return;
  }
  const w = instance();
  const nx = x.length;
  // layout, in 4-byte words: out | x | offsets | rows
  const oOut = 0;
  const oX = oOut + groups * dim;
  const oOff = oX + nx;
  const oRows = oOff + offsets.length;
  const h = reserve(oRows + rows.length);
  if (accumulate) h.set(out.subarray(0, groups * dim), oOut);
  h.set(x, oX);
  const ints = new Int32Array(h.buffer, 0, oRows + rows.length);
  ints.set(offsets, oOff);
  ints.set(rows, oRows);
  w.sumRowBags(oOut * 4, oX * 4, oOff * 4, oRows * 4, groups, dim, accumulate ? 1 : 0, relu ? 1 : 0);
  out.set(h.subarray(oOut, oOut + groups * dim));
}

/** The wasm backend's kernels: SIMD gemm and sumRowBags, everything else as in the fast TypeScript set. */
export const wasmKernels: Kernels = { ...fastKernels, gemm, sumRowBags };
