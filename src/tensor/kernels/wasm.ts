/**
 * The wasm kernel set: the fast TypeScript kernels, with gemm and sumRowBags replaced by
 * WebAssembly SIMD ones (src/tensor/wasm/gemm.ts). The module is emitted as bytes by our own builder
 * at first use, compiled synchronously (allowed for any size in Node and in Web Workers).
 *
 * Memory. The kernels see one linear memory, which JS owns. Where SharedArrayBuffer is available
 * (Node; a cross-origin-isolated page) it is a *shared* WebAssembly.Memory: growing it never detaches
 * the views already handed out, so it can hold tensors. Step arenas, parameters, their gradients and
 * Adam's moments take their buffers from it (`alloc`, through allocF32 and allocLasting), and a kernel
 * whose operands are such views reads and writes them in place. Operands from elsewhere (inputs,
 * arrays a caller passes) are copied into a scratch region above the allocated ones for the call, and
 * results copied back; that is also the whole story where memory cannot be shared.
 */
import { ModuleBuilder } from "../wasm/builder.js";
import { ADAM_ROWS_BLOCK, ADD_BIAS, LOAD_C, NARROW_ACCUMULATE, NARROW_BIAS, NARROW_RELU, RELU, addGemm } from "../wasm/gemm.js";
import { fastKernels } from "./fast.js";
import type { AdamHyper, GemmOpts, Kernels, SharedMemory } from "./types.js";

/** A module using one SIMD instruction: what `WebAssembly.validate` must accept for the wasm backend. */
function simdProbe(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder();
  m.fn("probe", [], [], (f) => {
    f.v128f32(1).v128f32(2).simd("f32x4.add").simd("f32x4.extract_lane", 0).op("drop");
  });
  return m.toBytes();
}

let simdSupported: boolean | null = null;

/** Whether this engine runs WebAssembly with 128-bit SIMD (probed once). */
export function wasmSimdSupported(): boolean {
  if (simdSupported === null) {
    try {
      simdSupported = typeof WebAssembly === "object" && WebAssembly.validate(simdProbe());
    } catch {
      simdSupported = false;
    }
  }
  return simdSupported;
}

/** 4 GiB: the most a 32-bit memory can address (only reserved, not committed, until it grows). */
const MAX_PAGES = 65536;

/** The bytes of the kernel module (exported so the tests can validate exactly what runs); `fma` for the relaxed-SIMD gemm. */
export function gemmModuleBytes(shared = false, fma = false): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder(shared ? { initialPages: 16, shared: true, maximumPages: MAX_PAGES } : { initialPages: 16 });
  addGemm(m, { fma });
  return m.toBytes();
}

/** Whether this engine accepts relaxed SIMD (f32x4.relaxed_madd): what the opt-in "wasm-fma" backend needs. */
export function wasmFmaSupported(): boolean {
  try {
    return wasmSimdSupported() && WebAssembly.validate(gemmModuleBytes(false, true));
  } catch {
    return false;
  }
}

interface KernelExports {
  packA(src: number, dst: number, m: number, k: number, k0: number, kc: number, trans: number): void;
  packB(src: number, dst: number, n: number, k: number, k0: number, kc: number, trans: number): void;
  kernel(pa: number, pb: number, c: number, bias: number, mp: number, np: number, kc: number, ldc: number, flags: number, lda: number, m: number, n: number): void;
  kernelRows(a: number, pb: number, c: number, bias: number, mp: number, np: number, kc: number, ldc: number, flags: number, lda: number, m: number, n: number): void;
  sumRowBags(out: number, x: number, offsets: number, rows: number, groups: number, dim: number, accumulate: number, relu: number): void;
  narrowNT(out: number, a: number, b: number, bias: number, m: number, n: number, k: number, flags: number): void;
  narrowNN(out: number, a: number, b: number, bias: number, m: number, n: number, k: number, flags: number): void;
  reluBackward(dx: number, dy: number, y: number, n: number): void;
  addRowVector(out: number, x: number, bias: number, rows: number, cols: number): void;
  gatherFields(out: number, tables: number, ids: number, fields: number, batch: number, dim: number): void;
  mixExperts(y: number, gates: number, experts: number, count: number, batch: number, width: number): void;
  adamDense(p: number, g: number, m: number, v: number, n: number, beta1: number, beta2: number, c1: number, c2: number, step: number, sq2: number, decay: number, eps: number, gradScale: number): void;
  adamRows(p: number, g: number, rows: number, count: number, dim: number, m: number, v: number, scratch: number, beta1: number, beta2: number, c1: number, c2: number, step: number, sq2: number, decay: number, eps: number, gradScale: number): void;
  sumRowsInto(out: number, x: number, acc: number, rows: number, cols: number): void;
  mixExpertsBackward(dgates: number, dexperts: number, dy: number, gates: number, experts: number, count: number, batch: number, width: number): void;
  scatterAddRows(grad: number, dOut: number, ids: number, count: number, dim: number): void;
  addScaled(out: number, x: number, n: number, s: number): void;
  countNonFinite(x: number, n: number): number;
  fieldColumn(out: number, x: number, batch: number, fields: number, f: number, dim: number): void;
  zero(dest: number, bytes: number): void;
  copyColumns(dst: number, ds: number, src: number, ss: number, width: number, rows: number, add: number): void;
}

/**
 * The linear memory and this thread's allocator over it. A shared memory may serve several threads
 * (the workers of data-parallel training adopt the trainer's, see `adoptMemory`), so the allocator
 * keeps nothing another thread must see but one word: the bump pointer at byte 0, advanced with
 * Atomics.add, below which every region has been handed to some thread. Each thread keeps its own
 * first-fit free list of the regions it released (16-byte aligned, for SIMD) and its own scratch
 * region for a call's copied operands.
 */
class Heap {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  /** Every buffer object this memory has had (a shared memory gives a new one after each grow). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private free: Array<[number, number]> = []; // [byte offset, bytes], sorted by offset
  /** Every region this thread took (from the bump pointer, or inherited): what it gives back when it ends. */
  readonly taken: Array<[number, number]> = [];
  /** Regions of threads that have ended, kept for the next thread that adopts this memory. */
  private spare: Array<[number, number]> = [];
  private sharingCache: SharedMemory | null = null;
  private scratchAt = 0;
  private scratchBytes = 0;
  private f32: Float32Array;

  /**
   * A new memory (bytes 0..63: the bump pointer, then unused, so no view starts at address 0), or one
   * another thread made, with regions an ended thread left (this thread allocates from them first).
   */
  constructor(adopt?: WebAssembly.Memory, inherit: ReadonlyArray<readonly [number, number]> = []) {
    let memory: WebAssembly.Memory | null = adopt ?? null;
    if (!memory && typeof SharedArrayBuffer === "function") {
      try {
        memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
      } catch {
        memory = null; // e.g. a page that is not cross-origin isolated
      }
    }
    this.memory = memory ?? new WebAssembly.Memory({ initial: 16 });
    this.shared = typeof SharedArrayBuffer === "function" && this.memory.buffer instanceof SharedArrayBuffer;
    this.f32 = new Float32Array(this.memory.buffer);
    this.buffers.add(this.memory.buffer);
    if (!adopt) new Int32Array(this.memory.buffer, 0, 1)[0] = 64;
    for (const [at, bytes] of inherit) {
      this.taken.push([at, bytes]);
      this.release(at, bytes);
    }
  }

  /** A view of the whole memory as it is now (renewed after a grow, by any thread). */
  view(): Float32Array {
    if (this.f32.buffer !== this.memory.buffer) {
      this.f32 = new Float32Array(this.memory.buffer);
      this.buffers.add(this.memory.buffer);
    }
    return this.f32;
  }

  /** Whether a Float32Array is a view of this memory (so a kernel may use it in place). */
  owns(x: Float32Array): boolean {
    return this.shared && this.buffers.has(x.buffer);
  }

  /** This memory as other threads may use it (one object, built on first use); null where it is not shared. */
  get sharing(): SharedMemory | null {
    if (!this.shared) return null;
    this.sharingCache ??= { memory: this.memory, owns: (x) => this.owns(x), view: (at, n) => this.viewAt(at, n), regions: () => this.taken.slice(), retire: (r) => this.retire(r), handOut: () => this.handOut() };
    return this.sharingCache;
  }

  /** `floats` floats at byte offset `at` of this memory, as a view the kernels use in place. */
  viewAt(at: number, floats: number): Float32Array {
    return new Float32Array(this.view().buffer, at, floats);
  }

  /** Takes `bytes` never handed out before (so still the zeros a grow gives) from the shared bump pointer. */
  private bump(bytes: number): number {
    const at = Atomics.add(new Int32Array(this.memory.buffer, 0, 1), 0, bytes);
    if (at + bytes + 64 > 2 ** 31) throw new Error(`wasm backend: out of memory (asked for ${bytes} bytes at ${at})`);
    // 64 bytes of slack: an edge tile may read (never write) just past a view
    const have = this.memory.buffer.byteLength;
    if (have < at + bytes + 64) this.memory.grow(Math.ceil((at + bytes + 64 - have) / 65536));
    this.taken.push([at, bytes]);
    return at;
  }

  /** `floats` zeroed floats that stay valid until released; null where memory cannot be shared. */
  alloc(floats: number): { data: Float32Array; release: () => void } | null {
    if (!this.shared) return null;
    const bytes = Math.max(16, Math.ceil((floats * 4) / 16) * 16);
    const { at, reused } = this.take(bytes);
    const data = this.viewAt(at, floats);
    // A region from the bump pointer is as the grow left it, zeros nobody touched: not writing them
    // keeps untouched pages unmapped (the moments of table rows no batch reaches cost no RSS).
    if (reused) data.fill(0);
    let released = false;
    return {
      data,
      release: () => {
        if (released) return;
        released = true;
        this.release(at, bytes);
      },
    };
  }

  /** `bytes` (a multiple of 16): the first region this thread released that fits, else new ones from the bump pointer. */
  private take(bytes: number): { at: number; reused: boolean } {
    const i = this.free.findIndex(([, size]) => size >= bytes);
    if (i < 0) return { at: this.bump(bytes), reused: false };
    const [off, size] = this.free[i]!;
    if (size === bytes) this.free.splice(i, 1);
    else this.free[i] = [off + bytes, size - bytes];
    return { at: off, reused: true };
  }

  /** Keeps an ended thread's regions for the next thread that adopts this memory (handOut). */
  retire(regions: ReadonlyArray<readonly [number, number]>): void {
    for (const [at, bytes] of regions) this.spare.push([at, bytes]);
  }

  /** The ended threads' regions, for a thread about to adopt this memory (which then owns them). */
  handOut(): Array<[number, number]> {
    return this.spare.splice(0);
  }

  private release(off: number, bytes: number): void {
    const f = this.free;
    let i = 0;
    while (i < f.length && f[i]![0] < off) i++;
    f.splice(i, 0, [off, bytes]);
    // merge with neighbours
    if (i + 1 < f.length && f[i]![0] + f[i]![1] === f[i + 1]![0]) f.splice(i, 2, [f[i]![0], f[i]![1] + f[i + 1]![1]]);
    if (i > 0 && f[i - 1]![0] + f[i - 1]![1] === f[i]![0]) f.splice(i - 1, 2, [f[i - 1]![0], f[i - 1]![1] + f[i]![1]]);
  }

  /** This thread's scratch region for one call: at least `floats` floats from the returned float index (not zeroed). */
  scratch(floats: number): { base: number; h: Float32Array } {
    const bytes = floats * 4 + 64;
    if (bytes > this.scratchBytes) {
      // a larger region (with headroom, so growing sizes soon settle); the old one is reused by allocations
      if (this.scratchBytes) this.release(this.scratchAt, this.scratchBytes);
      this.scratchBytes = Math.ceil((bytes * 1.25) / 16) * 16;
      this.scratchAt = this.take(this.scratchBytes).at;
    }
    return { base: this.scratchAt / 4, h: this.view() };
  }
}

let heapCache: Heap | null = null;
let exportsCache: KernelExports | null = null;
let fmaExports: KernelExports | null = null;

/** The relaxed-SIMD module, over the same memory (so lent buffers serve both). */
function fmaInstance(): KernelExports {
  if (fmaExports) return fmaExports;
  instance();
  const hp = heap();
  fmaExports = new WebAssembly.Instance(new WebAssembly.Module(gemmModuleBytes(hp.shared, true)), { env: { memory: hp.memory } }).exports as unknown as KernelExports;
  return fmaExports;
}
let warmupMs: number | null = null;

function heap(): Heap {
  heapCache ??= new Heap();
  return heapCache;
}

function instance(): KernelExports {
  if (exportsCache) return exportsCache;
  const hp = heap();
  const mod = new WebAssembly.Module(gemmModuleBytes(hp.shared));
  exportsCache = new WebAssembly.Instance(mod, { env: { memory: hp.memory } }).exports as unknown as KernelExports;
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

/** Depth of a k block: a packed B block of KC x 8 columns stays in L1 while a row panel streams by. */
const KC = 256;
/**
 * Below this many multiply-adds per row of the result (n x k) the TypeScript gemm runs: the copies
 * cost more than SIMD saves. The choice must not depend on m, the batch: a row's scores may not
 * change with the rows that share its batch (each path rounds differently).
 */
const SMALL_ROW = 256;

/**
 * Products with at most this many columns of W (x @ W^T with n <= 2: a tower's logit, a gate) or
 * rows (dz @ W with k <= 2) run as one dot product or row update per entry (narrowNT, narrowNN):
 * the register tile would pad them to 8 columns (4x to 8x the work). Like SMALL_ROW, the choice
 * looks at n and k only, never at the batch.
 */
const NARROW = 2;

/** See NARROW: out = a @ b^T (n <= NARROW) or a @ b (k <= NARROW), with GemmOpts' epilogue, in float32. */
function narrowGemm(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o: GemmOpts | undefined): void {
  const w = instance();
  const hp = heap();
  const accumulate = o?.accumulate === true;
  const bias = o?.bias ?? null;
  const { base, h } = hp.scratch(scratchFor(hp, a, m * k) + scratchFor(hp, b, k * n) + scratchFor(hp, out, m * n) + Math.ceil(n / 4) * 4 + 4);
  const at = { next: base };
  const pA = place(hp, a, m * k, h, at, true);
  const pB = place(hp, b, k * n, h, at, true);
  const pC = place(hp, out, m * n, h, at, accumulate);
  const pBias = at.next * 4;
  if (bias) h.set(bias.subarray(0, n), at.next);
  const flags = (accumulate ? NARROW_ACCUMULATE : 0) | (bias ? NARROW_BIAS : 0) | (o?.relu ? NARROW_RELU : 0);
  (o?.transB ? w.narrowNT : w.narrowNN)(pC, pA, pB, pBias, m, n, k, flags);
  if (!hp.owns(out)) out.set(h.subarray(pC / 4, pC / 4 + m * n));
}

/** Scratch floats an operand of `len` floats needs: none when it is a view of the memory, else a 16-byte-aligned copy. */
function scratchFor(hp: Heap, x: Float32Array, len: number): number {
  return hp.owns(x) ? 0 : Math.ceil(len / 4) * 4;
}

/** Where an operand is for the kernels: in place (a view of the memory) or copied into the scratch. */
function place(hp: Heap, x: Float32Array, n: number, h: Float32Array, at: { next: number }, copy: boolean): number {
  if (hp.owns(x)) return x.byteOffset;
  const p = at.next;
  at.next += Math.ceil(n / 4) * 4; // keep every scratch operand 16-byte aligned
  if (copy) h.set(n === x.length ? x : x.subarray(0, n), p);
  return p * 4;
}

function gemm(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o?: GemmOpts): void {
  simdGemm(out, a, b, m, n, k, o, SMALL_ROW);
}

function simdGemm(out: Float32Array, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o: GemmOpts | undefined, smallRow: number, fma = false): void {
  // one or two outputs (x @ W^T) or inputs (dz @ W) of a layer: dot products or row updates, unpacked
  if (m > 0 && k > 0 && o?.transA !== true && (o?.transB === true ? n <= NARROW : k <= NARROW)) {
    narrowGemm(out, a, b, m, n, k, o);
    return;
  }
  if (n * k < smallRow || m === 0 || k === 0) {
    fastKernels.gemm(out, a, b, m, n, k, o);
    return;
  }
  const w = fma ? fmaInstance() : instance();
  const hp = heap();
  const transA = o?.transA === true;
  const transB = o?.transB === true;
  const accumulate = o?.accumulate === true;
  const bias = o?.bias ?? null;
  const mp = (m + 3) >> 2;
  const np = (n + 7) >> 3;
  const kc = Math.min(KC, k);
  const need = scratchFor(hp, a, m * k) + scratchFor(hp, b, k * n) + scratchFor(hp, out, m * n) + np * 8 + (transA ? mp * 4 * kc : 0) + np * 8 * kc + 16;
  const { base, h } = hp.scratch(need);
  const at = { next: base };
  const pA = place(hp, a, m * k, h, at, true);
  const pB = place(hp, b, k * n, h, at, true);
  const pC = place(hp, out, m * n, h, at, accumulate);
  const pBias = at.next * 4; // padded to 8 np floats: the kernel reads whole groups of 8
  at.next += np * 8;
  if (bias) h.set(bias.subarray(0, n), pBias / 4);
  const pPA = at.next * 4;
  at.next += transA ? mp * 4 * kc : 0;
  const pPB = at.next * 4;
  for (let k0 = 0; k0 < k; k0 += KC) {
    const kb = Math.min(KC, k - k0);
    const last = k0 + kb === k;
    w.packB(pB, pPB, n, k, k0, kb, transB ? 1 : 0);
    const flags = (accumulate || k0 > 0 ? LOAD_C : 0) | (last && bias ? ADD_BIAS : 0) | (last && o?.relu ? RELU : 0);
    if (transA) {
      w.packA(pA, pPA, m, k, k0, kb, 1);
      w.kernel(pPA, pPB, pC, pBias, mp, np, kb, n, flags, k, m, n);
    } else w.kernelRows(pA + k0 * 4, pPB, pC, pBias, mp, np, kb, n, flags, k, m, n);
  }
  if (!hp.owns(out)) out.set(h.subarray(pC / 4, pC / 4 + m * n));
}

/** See Kernels.sumRowBags; in float32 lanes (within float32 rounding of the TypeScript kernel's double sums: see the module's sumRowBags). */
function sumRowBags(out: Float32Array, x: Float32Array, offsets: Int32Array, rows: Int32Array, dim: number, accumulate: boolean, relu: boolean): void {
  const groups = offsets.length - 1;
  if (dim % 8 !== 0 || groups < 1) {
    fastKernels.sumRowBags(out, x, offsets, rows, dim, accumulate, relu);
    return;
  }
  const w = instance();
  const hp = heap();
  const { base, h } = hp.scratch(scratchFor(hp, out, groups * dim) + scratchFor(hp, x, x.length) + offsets.length + rows.length + 8);
  const at = { next: base };
  const pOut = place(hp, out, groups * dim, h, at, accumulate);
  const pX = place(hp, x, x.length, h, at, true);
  const ints = new Int32Array(h.buffer, 0, at.next + offsets.length + rows.length);
  const pOff = at.next;
  ints.set(offsets, pOff);
  const pRows = pOff + offsets.length;
  ints.set(rows, pRows);
  w.sumRowBags(pOut, pX, pOff * 4, pRows * 4, groups, dim, accumulate ? 1 : 0, relu ? 1 : 0);
  if (!hp.owns(out)) out.set(h.subarray(pOut / 4, pOut / 4 + groups * dim));
}

/**
 * The kernels' heap when every operand (null: none given) is a view of its memory, else null. The
 * wrappers below run SIMD in place only then; copying their operands in would cost more than it saves.
 */
function lentHeap(...xs: ReadonlyArray<Float32Array | null>): Heap | null {
  const hp = heapCache;
  if (!hp) return null;
  for (let i = 0; i < xs.length; i++) if (xs[i] !== null && !hp.owns(xs[i]!)) return null;
  return hp;
}

/**
 * See Kernels.reluBackward; in SIMD where all three arrays are views of the kernels' memory (a step
 * arena's buffers: the common case), else in TypeScript (copying would cost more than it saves).
 * The same bits either way.
 */
function reluBackward(dx: Float32Array, dy: Float32Array, y: Float32Array, n: number): void {
  if (n < 64 || !lentHeap(dx, dy, y)) {
    fastKernels.reluBackward(dx, dy, y, n);
    return;
  }
  const w = instance();
  const n4 = n & ~3;
  w.reluBackward(dx.byteOffset, dy.byteOffset, y.byteOffset, n4);
  for (let i = n4; i < n; i++) if (y[i]! > 0) dx[i] = dx[i]! + dy[i]!;
}

/** See Kernels.addRowVector: in SIMD on lent buffers (the same bits), else TypeScript. */
function addRowVector(out: Float32Array, x: Float32Array, bias: Float32Array, rows: number, cols: number): void {
  if (cols % 4 !== 0 || rows * cols < 256 || !lentHeap(out, x, bias)) {
    fastKernels.addRowVector(out, x, bias, rows, cols);
    return;
  }
  instance().addRowVector(out.byteOffset, x.byteOffset, bias.byteOffset, rows, cols);
}

/** See Kernels.gatherFields: v128 copies from lent tables into a lent output (the ids copied in), else TypeScript. */
function gatherFields(out: Float32Array, tables: readonly Float32Array[], ids: Int32Array, batch: number, dim: number): void {
  const hp = lentHeap(out, ...tables);
  if (!hp || dim % 4 !== 0 || tables.length === 0) {
    fastKernels.gatherFields(out, tables, ids, batch, dim);
    return;
  }
  const F = tables.length;
  const { base, h } = hp.scratch(F + batch * F);
  const ints = new Int32Array(h.buffer, base * 4, F + batch * F);
  tables.forEach((t, f) => (ints[f] = t.byteOffset));
  ints.set(ids.subarray(0, batch * F), F);
  instance().gatherFields(out.byteOffset, base * 4, (base + F) * 4, F, batch, dim);
}

/** See Kernels.gatherRows: the rows of one table, which is gatherFields with one field (v128 copies on lent buffers), else TypeScript. */
function gatherRows(out: Float32Array, table: Float32Array, ids: Int32Array, dim: number): void {
  gatherFields(out, [table], ids, ids.length, dim);
}

/** See Kernels.mixExperts: f64x2 lanes on lent buffers (the same bits), else TypeScript. */
function mixExperts(y: Float32Array, gates: Float32Array, experts: readonly Float32Array[], batch: number, width: number): void {
  const hp = lentHeap(y, gates, ...experts);
  if (!hp || width % 4 !== 0 || batch * width < 256) {
    fastKernels.mixExperts(y, gates, experts, batch, width);
    return;
  }
  const w = instance();
  const { base, h } = hp.scratch(experts.length);
  const ptrs = new Int32Array(h.buffer, base * 4, experts.length);
  experts.forEach((x, e) => (ptrs[e] = x.byteOffset));
  w.mixExperts(y.byteOffset, gates.byteOffset, base * 4, experts.length, batch, width);
}

/** Adam's per-step constants, as the TypeScript kernel derives them (the same doubles). */
function adamArgs(h: AdamHyper): [number, number, number, number, number, number, number, number, number] {
  return [h.beta1, h.beta2, 1 - h.beta1, 1 - h.beta2, h.lr / h.bc1, Math.sqrt(h.bc2), 1 - h.lr * h.weightDecay, h.eps, h.gradScale];
}

/**
 * See Kernels.adamDense: in f64x2 lanes where p, g, m and v are views of the kernels' memory (lasting
 * allocations on this backend), bit-identical to the TypeScript kernel; else that kernel.
 */
function adamDense(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, h: AdamHyper): void {
  if (n < 16 || !lentHeap(p, g, m, v)) {
    fastKernels.adamDense(p, g, m, v, n, h);
    return;
  }
  const n4 = n & ~3;
  instance().adamDense(p.byteOffset, g.byteOffset, m.byteOffset, v.byteOffset, n4, ...adamArgs(h));
  if (n4 < n) fastKernels.adamDense(p.subarray(n4), g.subarray(n4), m.subarray(n4), v.subarray(n4), n - n4, h);
}

/** See Kernels.adamRows: the lazy update in f64x2 lanes (the row ids copied in), bit-identical to the TypeScript kernel. */
function adamRows(p: Float32Array, g: Float32Array, rows: Int32Array, m: Float32Array, v: Float32Array, dim: number, h: AdamHyper): void {
  const hp = lentHeap(p, g, m, v);
  if (!hp || dim % 4 !== 0 || rows.length === 0) {
    fastKernels.adamRows(p, g, rows, m, v, dim, h);
    return;
  }
  const w = instance();
  const blocks = 3 * ADAM_ROWS_BLOCK * dim; // the p, m and v rows of one block
  const { base, h: mem } = hp.scratch(blocks + rows.length + 4);
  const at = Math.ceil(base / 4) * 4; // 16-byte aligned
  new Int32Array(mem.buffer, (at + blocks) * 4, rows.length).set(rows);
  w.adamRows(p.byteOffset, g.byteOffset, (at + blocks) * 4, rows.length, dim, m.byteOffset, v.byteOffset, at * 4, ...adamArgs(h));
}

/** See Kernels.sumRowsInto: on lent buffers in f64x2 lanes (the same bits), else TypeScript. */
function sumRowsInto(out: Float32Array, x: Float32Array, rows: number, cols: number): void {
  const hp = lentHeap(out, x);
  if (!hp || cols % 4 !== 0 || rows * cols < 256) {
    fastKernels.sumRowsInto(out, x, rows, cols);
    return;
  }
  const { base } = hp.scratch(2 * cols + 4); // cols doubles
  instance().sumRowsInto(out.byteOffset, x.byteOffset, Math.ceil(base / 4) * 16, rows, cols);
}

/** See Kernels.mixExpertsBackward: on lent buffers (the same bits), else TypeScript. */
function mixExpertsBackward(dgates: Float32Array | null, dexperts: ReadonlyArray<Float32Array | null>, dy: Float32Array, gates: Float32Array, experts: readonly Float32Array[], batch: number, width: number): void {
  const hp = lentHeap(dgates, dy, gates, ...experts, ...dexperts);
  if (!hp || width % 4 !== 0 || batch * width < 256) {
    fastKernels.mixExpertsBackward(dgates, dexperts, dy, gates, experts, batch, width);
    return;
  }
  const E = experts.length;
  const { base, h } = hp.scratch(2 * E);
  const ptrs = new Int32Array(h.buffer, base * 4, 2 * E);
  experts.forEach((x, e) => (ptrs[e] = x.byteOffset));
  for (let e = 0; e < E; e++) ptrs[E + e] = dexperts[e]?.byteOffset ?? 0; // 0: no gradient (no view of the memory starts at 0)
  instance().mixExpertsBackward(dgates?.byteOffset ?? 0, (base + E) * 4, dy.byteOffset, gates.byteOffset, base * 4, E, batch, width);
}

/** See Kernels.scatterAddRows: on lent buffers (the ids copied in; the same bits), else TypeScript. */
function scatterAddRows(grad: Float32Array, dOut: Float32Array, ids: Int32Array, dim: number): void {
  const hp = lentHeap(grad, dOut);
  if (!hp || dim % 4 !== 0 || ids.length * dim < 256) {
    fastKernels.scatterAddRows(grad, dOut, ids, dim);
    return;
  }
  const { base, h } = hp.scratch(ids.length);
  new Int32Array(h.buffer, base * 4, ids.length).set(ids);
  instance().scatterAddRows(grad.byteOffset, dOut.byteOffset, base * 4, ids.length, dim);
}

/** See Kernels.addScaled: on lent buffers in f64x2 lanes (the same bits), else TypeScript. */
function addScaled(out: Float32Array, x: Float32Array, s: number, n: number): void {
  if (n < 256 || !lentHeap(out, x)) {
    fastKernels.addScaled(out, x, s, n);
    return;
  }
  const n4 = n & ~3;
  instance().addScaled(out.byteOffset, x.byteOffset, n4, s);
  if (n4 < n) fastKernels.addScaled(out.subarray(n4), x.subarray(n4), s, n - n4);
}

/** See Kernels.fieldColumn: v128 copies between lent buffers (the same values), else TypeScript. */
function fieldColumn(out: Float32Array, x: Float32Array, batch: number, fields: number, f: number, dim: number): void {
  if (dim % 4 !== 0 || batch * dim < 256 || !lentHeap(out, x)) {
    fastKernels.fieldColumn(out, x, batch, fields, f, dim);
    return;
  }
  instance().fieldColumn(out.byteOffset, x.byteOffset, batch, fields, f, dim);
}

/** See Kernels.copyColumns: v128 copies (or additions, the same bits) between lent buffers, else TypeScript. */
function copyColumns(dst: Float32Array, ds: number, dc: number, src: Float32Array, ss: number, sc: number, width: number, rows: number, add: boolean): void {
  if (width % 4 !== 0 || rows * width < 256 || !lentHeap(dst, src)) {
    fastKernels.copyColumns(dst, ds, dc, src, ss, sc, width, rows, add);
    return;
  }
  instance().copyColumns(dst.byteOffset + dc * 4, ds * 4, src.byteOffset + sc * 4, ss * 4, width, rows, add ? 1 : 0);
}

/** See Kernels.zero: memory.fill on a lent buffer (a memset), else TypedArray.fill. */
function zero(x: Float32Array): void {
  if (x.length < 64 || !lentHeap(x)) x.fill(0);
  else instance().zero(x.byteOffset, x.length * 4);
}

/** See Kernels.countNonFinite: SIMD on a lent buffer, else TypeScript. */
function countNonFinite(x: Float32Array, n: number): number {
  if (n < 256 || !lentHeap(x)) return fastKernels.countNonFinite(x, n);
  const n4 = n & ~3;
  return instance().countNonFinite(x.byteOffset, n4) + (n4 < n ? fastKernels.countNonFinite(x.subarray(n4), n - n4) : 0);
}

/** This thread's kernels' memory as other threads may use it: null where it is not shared. */
function sharedMemory(): SharedMemory | null {
  if (!wasmSimdSupported()) return null;
  instance();
  return heap().sharing;
}

/**
 * Makes this thread's kernels compute in a shared memory another thread made (before anything is
 * allocated here: a worker of data-parallel training, at its start). Regions this thread takes come
 * from the same bump pointer, so both threads' tensors live side by side and each thread's kernels
 * use the other's in place. `regions`: what an ended thread left (SharedMemory.handOut), used first.
 */
function adoptMemory(memory: WebAssembly.Memory, regions: ReadonlyArray<readonly [number, number]> = []): void {
  if (heapCache?.memory === memory) return;
  heapCache = new Heap(memory, regions);
  exportsCache = null;
  fmaExports = null;
  instance();
}

/** Zeroed floats in the kernels' memory, for step arenas (null where it cannot be shared). */
function alloc(n: number): { data: Float32Array; release: () => void } | null {
  if (!wasmSimdSupported()) return null;
  instance();
  return heap().alloc(n);
}

/**
 * With a gemm 8x the ts one, per-id first layers pay off only where ids repeat more. Training steps of
 * the reference model at 1,000 / 2,500 / 5,000 / 10,000 rows per field (0.35 / 0.43 / 0.48 / 0.53 of
 * a batch distinct), interleaved, with every field per id: dense / per id 1.05x / 1.00x / 0.92x /
 * 0.93x; on the simulator's traffic, where most fields repeat heavily, per id was 1.30x faster. With
 * this threshold `node build/bench/first-layer.js wasm` gives 1.08x / 1.00x / 0.99x / 0.97x.
 * The break-even moves between machines (those figures are from 2026-12-01): on an AMD EPYC
 * (2026-12-07, the distinct rows gathered in wasm by then) every field per id against dense was
 * 1.33x / 1.19x / 1.14x / 1.08x, and 1.00x at 0.62 distinct (50,000 rows per field). The threshold
 * stays where both measurements gain.
 */
const PER_ID_MAX_DISTINCT_WASM = 0.4;

/**
 * The `wasm` backend: SIMD WebAssembly kernels emitted by our module builder (gemm, sumRowBags,
 * reluBackward, addRowVector, mixExperts and its backward, gatherFields and its backward's
 * fieldColumn, scatterAddRows, sumRowsInto, copyColumns, addScaled, countNonFinite, zero, Adam dense
 * and lazy rows), the TypeScript ones elsewhere.
 */
export const wasmKernels: Kernels = { ...fastKernels, gemm, sumRowBags, gatherRows, reluBackward, addRowVector, mixExperts, mixExpertsBackward, gatherFields, fieldColumn, scatterAddRows, sumRowsInto, addScaled, countNonFinite, zero, copyColumns, adamDense, adamRows, alloc, sharedMemory, adoptMemory, perIdMaxDistinct: PER_ID_MAX_DISTINCT_WASM };

/**
 * Opt-in, never the default: the wasm set with a gemm that multiply-adds with relaxed SIMD
 * (f32x4.relaxed_madd). Whether it fuses (one rounding) depends on the CPU, so its bits may differ
 * from machine to machine; Node 20 accepts it only behind --experimental-wasm-relaxed-simd.
 */
export const wasmFmaKernels: Kernels = { ...wasmKernels, gemm: (out, a, b, m, n, k, o) => simdGemm(out, a, b, m, n, k, o, SMALL_ROW, true) };

/** The same, with every product of any size through the SIMD gemm (tests use it to reach the SIMD path with small models). */
export const wasmKernelsAllSimd: Kernels = { ...wasmKernels, gemm: (out, a, b, m, n, k, o) => simdGemm(out, a, b, m, n, k, o, 1) };
