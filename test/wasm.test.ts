/**
 * The WebAssembly backend: the module builder's encodings (hand-derived bytes), every emitted module
 * validates, and the SIMD gemm agrees with the naive oracle within float32 rounding on awkward shapes.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BACKENDS, Rng, backendName, fastKernels, naiveKernels, useBackend, wasmFmaKernels, wasmFmaSupported, wasmKernels, wasmSimdSupported, wasmWarmup, type BackendName, type Kernels } from "../src/index.js";
import { gemmModuleBytes } from "../src/tensor/kernels/index.js";
import { F32, I32, ModuleBuilder, V128, sleb, uleb } from "../src/tensor/wasm/builder.js";
import { gemmCases } from "./helpers.js";

function rand(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

const SETS: Record<BackendName, Kernels> = { naive: naiveKernels, ts: fastKernels, wasm: wasmKernels, "wasm-fma": wasmFmaKernels };

describe("the module builder", () => {
  it("LEB128 as the spec's examples: 624485 -> e5 8e 26, -123456 -> c0 bb 78", () => {
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]); // bit 6 set would read as negative: one more byte
    expect(sleb(-64)).toEqual([0x40]);
  });

  it("a module with loops, ifs and SIMD validates and computes what it says", () => {
    const m = new ModuleBuilder();
    // sum(n) = 0 + 1 + ... + n-1, with the builder's for loop
    m.fn("sum", [I32], [I32], (f) => {
      const i = f.local(I32), s = f.local(I32);
      f.for(i, () => f.i32(0), () => f.get(0), 1, () => f.get(s).get(i).op("i32.add").set(s));
      f.get(s);
    });
    // dot4(p, q): sum of the lanes of f32x4 p * q, read from memory at byte offsets p and q
    m.fn("dot4", [I32, I32], [F32], (f) => {
      const v = f.local(V128);
      f.get(0).simd("v128.load").get(1).simd("v128.load").simd("f32x4.mul").set(v);
      f.get(v).simd("f32x4.extract_lane", 0).get(v).simd("f32x4.extract_lane", 1).op("f32.add");
      f.get(v).simd("f32x4.extract_lane", 2).op("f32.add").get(v).simd("f32x4.extract_lane", 3).op("f32.add");
    });
    // relu(x) with an if that yields a value
    m.fn("relu", [F32], [F32], (f) => {
      f.get(0).f32(0).op("f32.gt").if(() => f.get(0), () => f.f32(0), F32);
    });
    const bytes = m.toBytes();
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    if (!wasmSimdSupported()) return;
    expect(WebAssembly.validate(bytes)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as { sum(n: number): number; dot4(p: number, q: number): number; relu(x: number): number };
    expect(ex.sum(10)).toBe(45);
    expect(ex.sum(0)).toBe(0);
    new Float32Array(memory.buffer).set([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ex.dot4(0, 16)).toBe(1 * 5 + 2 * 6 + 3 * 7 + 4 * 8);
    expect([ex.relu(-2), ex.relu(3)]).toEqual([0, 3]);
  });

  it("names its functions in a name section: subsection 1, (index, name) pairs in definition order", () => {
    const m = new ModuleBuilder();
    m.fn("one", [], [I32], (f) => f.i32(1));
    m.fn("ab", [], [I32], (f) => f.i32(2));
    const bytes = m.toBytes();
    // by hand: "name" (4, n a m e), subsection 1 of 10 bytes: 2 entries, (0, 3 "one"), (1, 2 "ab")
    const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
    const section = [4, ...ascii("name"), 1, 10, 2, 0, 3, ...ascii("one"), 1, 2, ...ascii("ab")];
    expect(Array.from(bytes.subarray(bytes.length - section.length - 2))).toEqual([0, section.length, ...section]);
    if (!wasmSimdSupported()) return;
    const mod = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.customSections(mod, "name").map((b) => b.byteLength)).toEqual([section.length - 5]);
    // the kernel module names every function it exports (the profile and stack traces read them)
    const kernels = new WebAssembly.Module(gemmModuleBytes());
    const [names] = WebAssembly.Module.customSections(kernels, "name");
    const text = new TextDecoder().decode(names);
    for (const e of WebAssembly.Module.exports(kernels)) if (e.kind === "function") expect(text).toContain(e.name);
  });

  it("the kernel module validates", () => {
    if (!wasmSimdSupported()) return;
    expect(WebAssembly.validate(gemmModuleBytes())).toBe(true);
    const ms = wasmWarmup();
    expect(ms).toBeGreaterThan(0); // the warm-up ran (24 products take measurable time)
    expect(wasmWarmup()).toBe(ms); // and runs once: the second call reports the same start-up
  });
});

describe.skipIf(!wasmSimdSupported())("wasm gemm against the naive oracle", () => {
  const forms = [
    { name: "A@B", transA: false, transB: false },
    { name: "A^T@B", transA: true, transB: false },
    { name: "A@B^T", transA: false, transB: true },
    { name: "A^T@B^T", transA: true, transB: true },
  ];
  /**
   * The tolerance: float32 accumulation of k products errs by at most about k * u * sum_p |a_ip b_pj|
   * (u = 2^-24, the unit roundoff), plus a rounding of the stored value, of the accumulated `out`
   * and of the bias. Relative to the magnitude of the terms, not of the (possibly cancelling) result.
   */
  const bound = (k: number, mag: number): number => (k + 4) * 2 ** -24 * mag + 1e-30;

  for (const form of forms) {
    it(`${form.name}: shapes 1..33 and k past the 256 block, plain, accumulating, bias, ReLU`, () => {
      // below n k = 256 the TypeScript gemm runs (tested bit for bit elsewhere), except the narrow
      // products (x W^T with n <= 2, dz W with k <= 2), which SIMD computes at every size
      const narrow = (n: number, k: number): boolean => !form.transA && (form.transB ? n <= 2 : k <= 2);
      for (const { m, n, k, a, b, init, bias, accumulate, epi, opts: o } of gemmCases(form, [1, 3, 4, 5, 7, 33], [1, 2, 7, 8, 9, 33], [1, 2, 7, 33, 256, 300], (_, n, k) => n * k >= 256 || narrow(n, k))) {
        {
          const ref = init.slice();
          const got = init.slice();
          naiveKernels.gemm(ref, a, b, m, n, k, o);
          wasmKernels.gemm(got, a, b, m, n, k, o);
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              let mag = (accumulate ? Math.abs(init[i * n + j]!) : 0) + (epi ? Math.abs(bias[j]!) : 0);
              for (let p = 0; p < k; p++) mag += Math.abs((form.transA ? a[p * m + i]! : a[i * k + p]!) * (form.transB ? b[j * k + p]! : b[p * n + j]!));
              const d = Math.abs(got[i * n + j]! - ref[i * n + j]!);
              if (!(d <= bound(k, mag))) throw new Error(`${form.name} ${m}x${n}x${k} acc=${accumulate} epi=${epi} [${i},${j}]: ${got[i * n + j]} vs ${ref[i * n + j]} (bound ${bound(k, mag)})`);
            }
          }
        }
      }
    });
  }

  it.each([
    [33, 40, false],
    [2, 40, true], // narrow: dot products
    [40, 2, false], // narrow: row updates
  ] as const)("a row's result does not depend on the other rows of its batch (bit for bit), n %i k %i", (n, k, transB) => {
    const a = rand(9 * k, 5);
    const b = rand(k * n, 6);
    const all = new Float32Array(9 * n);
    wasmKernels.gemm(all, a, b, 9, n, k, { relu: true, bias: rand(n, 7), transB });
    for (const [from, rows] of [[0, 1], [4, 3], [8, 1], [2, 6]] as const) {
      const part = new Float32Array(rows * n);
      wasmKernels.gemm(part, a.subarray(from * k, (from + rows) * k), b, rows, n, k, { relu: true, bias: rand(n, 7), transB });
      expect(Array.from(part)).toEqual(Array.from(all.subarray(from * n, (from + rows) * n)));
    }
  });

  it("grows its memory for a large product and stays right", () => {
    const [m, n, k] = [700, 300, 520]; // a few MB of operands: past the initial 1 MiB
    const a = rand(m * k, 8);
    const b = rand(k * n, 9);
    const ref = new Float32Array(m * n);
    const got = new Float32Array(m * n);
    naiveKernels.gemm(ref, a, b, m, n, k, { transB: true });
    wasmKernels.gemm(got, a, b, m, n, k, { transB: true });
    let worst = 0;
    for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!) / (1 + Math.abs(ref[i]!)));
    expect(worst).toBeLessThan(1e-4);
    expect(worst).toBeGreaterThan(0); // float32 accumulation: not the oracle's bits, as documented
  });
});

describe.each(BACKENDS)("backend %s", (name) => {
  afterEach(() => useBackend(wasmSimdSupported() ? "wasm" : "ts"));
  it("computes hand-derived products and the fused epilogue", () => {
    if (name === "wasm" && !wasmSimdSupported()) return;
    if (name === "wasm-fma" && !wasmFmaSupported()) {
      expect(() => useBackend("wasm-fma")).toThrow(/"wasm-fma" needs relaxed SIMD/); // opt-in, and says what it needs
      return;
    }
    const K = SETS[name];
    const out = new Float32Array(4);
    K.gemm(out, Float32Array.of(1, 2, 3, 4), Float32Array.of(5, 6, 7, 8), 2, 2, 2);
    expect(Array.from(out)).toEqual([19, 22, 43, 50]);
    // a product large enough for the SIMD path (n k >= 256): ones times a ramp, bias, ReLU
    const [m, n, k] = [5, 16, 16];
    const a = new Float32Array(m * k).fill(1);
    const b = Float32Array.from({ length: k * n }, (_, i) => (i % n) - 8); // column j holds j - 8
    const c = new Float32Array(m * n);
    K.gemm(c, a, b, m, n, k, { bias: new Float32Array(n).fill(64), relu: true });
    for (let j = 0; j < n; j++) expect(c[j]).toBe(Math.max(0, 16 * (j - 8) + 64));
    useBackend(name);
    expect(backendName()).toBe(name);
  });
});

it("useBackend names what it accepts", () => {
  expect(() => useBackend("gpu" as BackendName)).toThrow('useBackend: "gpu" is not one of naive, ts, wasm, wasm-fma');
  expect(backendName()).toBe(wasmSimdSupported() ? "wasm" : "ts"); // the default
});

describe.skipIf(!wasmSimdSupported())("wasm sumRowBags", () => {
  it("agrees with the naive kernel within float32 summation error, plain, accumulating, rectified", () => {
    const rng = new Rng(21);
    for (const [groups, dim, rowsOfX] of [[1, 8, 3], [5, 16, 7], [33, 256, 40], [7, 24, 1]] as const) {
      const x = rand(rowsOfX * dim, 22);
      const sizes = Array.from({ length: groups }, () => rng.int(5)); // empty bags too
      const offsets = Int32Array.from([0, ...sizes.map((_, g) => sizes.slice(0, g + 1).reduce((a, b) => a + b, 0))]);
      const rows = Int32Array.from({ length: offsets[groups]! }, () => rng.int(rowsOfX));
      for (const [accumulate, relu] of [[false, false], [true, false], [true, true], [false, true]] as const) {
        const init = rand(groups * dim, 23);
        const ref = init.slice();
        const got = init.slice();
        naiveKernels.sumRowBags(ref, x, offsets, rows, dim, accumulate, relu);
        wasmKernels.sumRowBags(got, x, offsets, rows, dim, accumulate, relu);
        // recursive float32 summation of n terms against one rounding of the exact sum:
        // |got - ref| <= (n + 1) 2^-24 (|init| + sum of |terms|), per column
        for (let g = 0; g < groups; g++) {
          const n = offsets[g + 1]! - offsets[g]! + (accumulate ? 1 : 0);
          for (let d = 0; d < dim; d++) {
            let mag = accumulate ? Math.abs(init[g * dim + d]!) : 0;
            for (let i = offsets[g]!; i < offsets[g + 1]!; i++) mag += Math.abs(x[rows[i]! * dim + d]!);
            expect(Math.abs(got[g * dim + d]! - ref[g * dim + d]!)).toBeLessThanOrEqual((n + 1) * 2 ** -24 * mag);
          }
        }
        if (relu) expect(got.every((v) => v >= 0 && !Object.is(v, -0))).toBe(true);
      }
    }
  });
  it("sums long bags (the rows of a frequent id) to within float32 rounding, and zero bags to +0", () => {
    const dim = 24;
    const x = rand(3 * dim, 24);
    const rows = Int32Array.from({ length: 600 }, (_, i) => i % 3);
    const offsets = Int32Array.from([0, 600, 600]);
    const ref = new Float32Array(2 * dim);
    const got = new Float32Array(2 * dim).fill(7);
    naiveKernels.sumRowBags(ref, x, offsets, rows, dim, false, true);
    wasmKernels.sumRowBags(got, x, offsets, rows, dim, false, true);
    for (let d = 0; d < dim; d++) expect(Math.abs(got[d]! - ref[d]!)).toBeLessThanOrEqual(1e-5 * 200 * (Math.abs(x[d]!) + Math.abs(x[dim + d]!) + Math.abs(x[2 * dim + d]!)));
    expect(Array.from(got.subarray(dim))).toEqual(new Array(dim).fill(0));
  });
});

describe.skipIf(!wasmSimdSupported() || typeof SharedArrayBuffer !== "function")("tensors in the kernels' memory", () => {
  it("step arenas borrow the wasm backend's memory, kernels use it in place, clear() gives it back", async () => {
    const { Arena, allocF32, kernels } = await import("../src/index.js");
    useBackend("wasm");
    const arena = new Arena();
    const [m, n, k] = [37, 19, 41];
    const got = arena.run(() => {
      const a = allocF32(m * k);
      const b = allocF32(k * n);
      const c = allocF32(m * n);
      a.set(rand(m * k, 31));
      b.set(rand(k * n, 32));
      kernels.gemm(c, a, b, m, n, k, { bias: rand(n, 33), relu: true });
      return { a: a.slice(), b: b.slice(), c: c.slice(), lent: c.buffer instanceof SharedArrayBuffer };
    });
    expect(got.lent).toBe(true);
    const ref = new Float32Array(m * n);
    naiveKernels.gemm(ref, got.a, got.b, m, n, k, { bias: rand(n, 33), relu: true });
    for (let i = 0; i < m * n; i++) expect(Math.abs(got.c[i]! - ref[i]!)).toBeLessThan(1e-4);
    // the same product from ordinary arrays (copied in and out): the same bits
    const c2 = new Float32Array(m * n);
    wasmKernels.gemm(c2, got.a, got.b, m, n, k, { bias: rand(n, 33), relu: true });
    expect(Array.from(c2)).toEqual(Array.from(got.c));
    expect(arena.heldFloats).toBe(m * k + k * n + m * n);
    arena.clear();
    expect(arena.heldFloats).toBe(0);
  });

  it("a worker that adopts the memory allocates beside this thread (even after growing it), and each reads the other's floats in place", async () => {
    const { allocLasting, kernels } = await import("../src/index.js");
    const { Worker } = await import("node:worker_threads");
    const { writeFileSync, mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { pathToFileURL } = await import("node:url");
    useBackend("wasm");
    const sm = kernels.sharedMemory!()!;
    const before = [allocLasting(1000), allocLasting(4096)];
    before[1]!.set(rand(4096, 41));
    const dist = pathToFileURL(join(process.cwd(), "dist", "index.js")).href;
    const script = join(mkdtempSync(join(tmpdir(), "esmm-adopt-")), "w.mjs");
    writeFileSync(
      script,
      `import { workerData, parentPort } from "node:worker_threads";
       import { useBackend, kernels, allocLasting } from ${JSON.stringify(dist)};
       useBackend("wasm");
       const bump = () => new Int32Array(workerData.memory.buffer, 0, 1)[0];
       const bumpBefore = bump();
       kernels.adoptMemory(workerData.memory, workerData.regions);
       const theirs = kernels.sharedMemory().view(workerData.at, workerData.n);
       // 6M floats: the memory grows here, and the trainer must still see it
       const mine = [allocLasting(777), allocLasting(6_000_000), allocLasting(33)];
       const zeros = mine.every((a) => a.every((v) => v === 0));
       mine.forEach((a, i) => a.fill(i + 1));
       let sum = 0; for (const v of theirs) sum += v;
       globalThis.keep = mine;
       parentPort.postMessage({ regions: mine.map((a) => [a.byteOffset, a.length]), sum, inPlace: kernels.sharedMemory().owns(theirs), taken: kernels.sharedMemory().regions(), zeros, grew: bump() - bumpBefore });`,
    );
    type Reply = { regions: Array<[number, number]>; sum: number; inPlace: boolean; taken: Array<[number, number]>; zeros: boolean; grew: number };
    const start = (regions: Array<[number, number]>): { w: InstanceType<typeof Worker>; reply: Promise<Reply> } => {
      const w = new Worker(script, { workerData: { memory: sm.memory, regions, at: before[1]!.byteOffset, n: 4096 } });
      return { w, reply: new Promise<Reply>((resolve, reject) => (w.once("message", resolve), w.once("error", reject))) };
    };
    const { w, reply: replied } = start([]);
    const reply = await replied;
    expect(reply.zeros).toBe(true);
    expect(reply.grew).toBeGreaterThan(24_000_000);
    const after = [allocLasting(5000)];
    let sum = 0;
    for (const v of before[1]!) sum += v;
    expect(reply.sum).toBeCloseTo(sum, 3);
    expect(reply.inPlace).toBe(true);
    reply.regions.forEach(([at, n], i) => {
      const v = sm.view(at, n);
      expect(sm.owns(v)).toBe(true);
      expect(v[0]).toBe(i + 1);
      expect(v[n - 1]).toBe(i + 1);
    });
    // no two regions of the two threads overlap
    const all = [...before, ...after].map((a) => [a.byteOffset, a.byteLength] as [number, number]).concat(reply.regions.map(([at, n]) => [at, n * 4] as [number, number]));
    all.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < all.length; i++) expect(all[i]![0]).toBeGreaterThanOrEqual(all[i - 1]![0] + all[i - 1]![1]);
    await w.terminate();
    // the ended worker's regions go to the next one: it allocates the same again from them (the bump
    // pointer stays), zeroed although the first worker wrote them
    sm.retire(reply.taken);
    const next = start(sm.handOut());
    const second = await next.reply;
    expect(second.grew).toBe(0);
    expect(second.zeros).toBe(true);
    expect(second.regions.every(([at]) => reply.taken.some(([t, bytes]) => at >= t && at < t + bytes))).toBe(true);
    expect(sm.handOut()).toEqual([]);
    await next.w.terminate();
  });
});

describe.skipIf(!wasmSimdSupported() || typeof SharedArrayBuffer !== "function")("wasm reluBackward", () => {
  it("equals the TypeScript kernel bit for bit, -0 included, on views of the kernels' memory", async () => {
    const { Arena, allocF32 } = await import("../src/index.js");
    useBackend("wasm");
    const arena = new Arena();
    for (const n of [64, 67, 1031]) {
      arena.run(() => {
        const y = allocF32(n), dy = allocF32(n), dx = allocF32(n);
        y.set(rand(n, 40));
        dy.set(rand(n, 41));
        dx.set(rand(n, 42));
        dx[0] = -0;
        y[0] = -1; // masked: dx stays -0
        const ref = dx.slice();
        fastKernels.reluBackward(ref, dy, y, n);
        wasmKernels.reluBackward(dx, dy, y, n);
        expect(dx.buffer instanceof SharedArrayBuffer).toBe(true);
        expect(Object.is(dx[0], -0)).toBe(true);
        expect(Array.from(dx)).toEqual(Array.from(ref));
      });
    }
  });
});

describe.skipIf(!wasmSimdSupported() || typeof SharedArrayBuffer !== "function")("wasm Adam", () => {
  it("dense and lazy rows equal the TypeScript kernels bit for bit, on lasting buffers of the kernels' memory", async () => {
    const { allocLasting } = await import("../src/index.js");
    useBackend("wasm");
    const h = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3, gradScale: 0.7 };
    const lasting = (src: Float32Array): Float32Array => {
      const a = allocLasting(src.length);
      a.set(src);
      return a;
    };
    for (const n of [16, 37, 1000]) {
      const [p, g, m, v] = [rand(n, 50), rand(n, 51), rand(n, 52), rand(n, 53).map(Math.abs)].map(lasting) as [Float32Array, Float32Array, Float32Array, Float32Array];
      expect(p.buffer instanceof SharedArrayBuffer).toBe(true);
      const [p2, m2, v2] = [p.slice(), m.slice(), v.slice()];
      fastKernels.adamDense(p2, g, m2, v2, n, h);
      wasmKernels.adamDense(p, g, m, v, n, h);
      expect([Array.from(p), Array.from(m), Array.from(v)]).toEqual([Array.from(p2), Array.from(m2), Array.from(v2)]);
    }
    const dim = 16;
    /** Lazy Adam on `rows` of a V-row table, both kernels: the wasm one's p, m and v and the ts one's. */
    const lazy = (V: number, rows: Int32Array, seed: number): Float32Array[][] => {
      const [p, m, v] = [rand(V * dim, seed), rand(V * dim, seed + 1), rand(V * dim, seed + 2).map(Math.abs)].map(lasting) as [Float32Array, Float32Array, Float32Array];
      const g = lasting(rand(rows.length * dim, seed + 3));
      const [p2, m2, v2] = [p.slice(), m.slice(), v.slice()];
      fastKernels.adamRows(p2, g, rows, m2, v2, dim, h);
      wasmKernels.adamRows(p, g, rows, m, v, dim, h);
      return [[p, m, v], [p2, m2, v2]];
    };
    const [got, want] = lazy(50, Int32Array.of(3, 0, 49, 17), 60);
    expect(got.map((a) => Array.from(a))).toEqual(want.map((a) => Array.from(a)));
    expect(got[0]![5 * dim]).toBe(rand(50 * dim, 60)[5 * dim]); // an untouched row stays as it was
    // 150 rows in a scattered order: two whole blocks of the kernel's 64 rows and a partial one
    const many = Int32Array.from({ length: 150 }, (_, i) => (i * 137 + 11) % 400);
    expect(new Set(many).size).toBe(150);
    const [got2, want2] = lazy(400, many, 64);
    expect(got2.map((a) => Array.from(a))).toEqual(want2.map((a) => Array.from(a)));
    expect(Array.from(got2[0]!)).not.toEqual(Array.from(rand(400 * dim, 64))); // the rows did change
  });
});

describe.skipIf(!wasmSimdSupported())("the opt-in FMA gemm (relaxed SIMD)", () => {
  it("validates and agrees with the oracle within float32 rounding, in a Node that accepts relaxed SIMD", async () => {
    const { execFileSync } = await import("node:child_process");
    const { join } = await import("node:path");
    const dist = join(import.meta.dirname, "..", "dist", "index.js");
    const script = `const k = await import(${JSON.stringify("file://" + dist)});
if (!k.wasmFmaSupported()) { console.log("unsupported"); process.exit(0); }
k.useBackend("wasm-fma");
const [m, n, k2] = [33, 40, 300];
const r = new k.Rng(3);
const a = Float32Array.from({ length: m * k2 }, () => r.normal()), b = Float32Array.from({ length: k2 * n }, () => r.normal());
const got = new Float32Array(m * n), ref = new Float32Array(m * n);
k.kernels.gemm(got, a, b, m, n, k2, { transB: false });
k.naiveKernels.gemm(ref, a, b, m, n, k2, {});
let worst = 0;
for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
  let mag = 0; for (let p = 0; p < k2; p++) mag += Math.abs(a[i * k2 + p] * b[p * n + j]);
  worst = Math.max(worst, Math.abs(got[i * n + j] - ref[i * n + j]) / ((k2 + 4) * 2 ** -24 * mag));
}
console.log(worst <= 1 ? "ok" : "off " + worst);`;
    let out: string;
    try {
      out = execFileSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--input-type=module", "-e", script], { encoding: "utf8", stdio: "pipe" }).trim();
    } catch (e) {
      // only a Node that does not know the flag may end here; any other failure is one
      expect(String((e as { stderr?: string }).stderr)).toMatch(/bad option|unknown.*flag/i);
      return;
    }
    expect(out).toBe("ok"); // with the flag, Node 20's V8 accepts relaxed SIMD, and the FMA gemm agrees with the oracle
  });
});

describe.skipIf(!wasmSimdSupported() || typeof SharedArrayBuffer !== "function")("wasm addRowVector and mixExperts", () => {
  it("equal the TypeScript kernels bit for bit on the kernels' memory", async () => {
    const { Arena, allocF32 } = await import("../src/index.js");
    useBackend("wasm");
    const arena = new Arena();
    arena.run(() => {
      const [B, H, E] = [37, 64, 3];
      const lent = (src: Float32Array): Float32Array => {
        const a = allocF32(src.length);
        a.set(src);
        return a;
      };
      const x = lent(rand(B * H, 70));
      const bias = lent(rand(H, 71));
      const out = allocF32(B * H);
      const ref = new Float32Array(B * H);
      fastKernels.addRowVector(ref, x, bias, B, H);
      wasmKernels.addRowVector(out, x, bias, B, H);
      expect(out.buffer instanceof SharedArrayBuffer).toBe(true);
      expect(Array.from(out)).toEqual(Array.from(ref));
      const gates = lent(rand(B * E, 72));
      const experts = [0, 1, 2].map((e) => lent(rand(B * H, 73 + e)));
      const y = lent(rand(B * H, 80));
      const y2 = y.slice();
      fastKernels.mixExperts(y2, gates, experts, B, H);
      wasmKernels.mixExperts(y, gates, experts, B, H);
      expect(Array.from(y)).toEqual(Array.from(y2));
    });
  });
});

describe.skipIf(!wasmSimdSupported() || typeof SharedArrayBuffer !== "function")("wasm gatherFields", () => {
  it("equals the TypeScript kernel on lent tables and output", async () => {
    const { Arena, allocF32, allocLasting } = await import("../src/index.js");
    useBackend("wasm");
    const rng = new Rng(90);
    const [F, B, D, V] = [5, 33, 16, 40];
    const tables = Array.from({ length: F }, (_, f) => {
      const t = allocLasting(V * D);
      t.set(rand(V * D, 91 + f));
      return t;
    });
    const ids = Int32Array.from({ length: B * F }, () => rng.int(V));
    new Arena().run(() => {
      const out = allocF32(B * F * D);
      const ref = new Float32Array(B * F * D);
      fastKernels.gatherFields(ref, tables, ids, B, D);
      wasmKernels.gatherFields(out, tables, ids, B, D);
      expect(out.buffer instanceof SharedArrayBuffer).toBe(true);
      expect(Array.from(out)).toEqual(Array.from(ref));
    });
  });

  it("gatherRows, one table's rows (the per-id fields' distinct rows), is the same copy", async () => {
    const { Arena, allocF32, allocLasting } = await import("../src/index.js");
    useBackend("wasm");
    const rng = new Rng(95);
    for (const [D, V, n] of [[16, 40, 33], [4, 7, 1], [3, 9, 12]] as const) {
      const table = allocLasting(V * D);
      table.set(rand(V * D, 96 + D));
      const ids = Int32Array.from({ length: n }, () => rng.int(V));
      new Arena().run(() => {
        const out = allocF32(n * D);
        const ref = new Float32Array(n * D);
        naiveKernels.gatherRows(ref, table, ids, D);
        wasmKernels.gatherRows(out, table, ids, D);
        expect(Array.from(out), `D ${D}`).toEqual(Array.from(ref));
      });
    }
  });
});

describe.skipIf(!wasmSimdSupported() || typeof SharedArrayBuffer !== "function")("wasm sumRowsInto, mixExpertsBackward, scatterAddRows, fieldColumn, copyColumns, addScaled, countNonFinite, zero", () => {
  it("equal the TypeScript kernels bit for bit on the kernels' memory, on awkward shapes", async () => {
    const { Arena, allocF32 } = await import("../src/index.js");
    useBackend("wasm");
    const lent = (src: Float32Array): Float32Array => {
      const a = allocF32(src.length);
      a.set(src);
      return a;
    };
    new Arena().run(() => {
      // a bias's gradient: column sums of [rows, cols]
      for (const [rows, cols] of [[64, 4], [37, 132], [1031, 16]] as const) {
        const x = lent(rand(rows * cols, 100 + cols));
        const out = lent(rand(cols, 101));
        const ref = out.slice();
        fastKernels.sumRowsInto(ref, x, rows, cols);
        wasmKernels.sumRowsInto(out, x, rows, cols);
        expect(out.buffer instanceof SharedArrayBuffer).toBe(true);
        expect(Array.from(out)).toEqual(Array.from(ref));
      }
      // the mixture's backward, every gradient asked for, then without dgates and without expert 1's
      const [B, H, E] = [37, 64, 3];
      const dy = lent(rand(B * H, 110));
      const gates = lent(rand(B * E, 111));
      const experts = [0, 1, 2].map((e) => lent(rand(B * H, 112 + e)));
      for (const [withGates, skip] of [[true, -1], [false, 1]] as const) {
        const dg = withGates ? lent(rand(B * E, 120)) : null;
        const dx = [0, 1, 2].map((e) => (e === skip ? null : lent(rand(B * H, 121 + e))));
        const dgRef = dg ? dg.slice() : null;
        const dxRef = dx.map((d) => (d ? d.slice() : null));
        fastKernels.mixExpertsBackward(dgRef, dxRef, dy, gates, experts, B, H);
        wasmKernels.mixExpertsBackward(dg, dx, dy, gates, experts, B, H);
        if (dg) expect(Array.from(dg)).toEqual(Array.from(dgRef!));
        dx.forEach((d, e) => {
          if (d) expect(Array.from(d)).toEqual(Array.from(dxRef[e]!));
        });
      }
      // gradient rows into a table, ids repeating
      const [V, D] = [50, 16];
      const ids = Int32Array.of(3, 0, 49, 3, 17, 3, 0, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19);
      const grad = lent(rand(V * D, 130));
      const rowsIn = lent(rand(ids.length * D, 131));
      const gRef = grad.slice();
      fastKernels.scatterAddRows(gRef, rowsIn, ids, D);
      wasmKernels.scatterAddRows(grad, rowsIn, ids, D);
      expect(Array.from(grad)).toEqual(Array.from(gRef));
      // a scaled accumulation (s not a float32), with a remainder past the last four
      for (const n of [256, 1031]) {
        const out = lent(rand(n, 140));
        const x = lent(rand(n, 141));
        const ref = out.slice();
        fastKernels.addScaled(ref, x, 0.1, n);
        wasmKernels.addScaled(out, x, 0.1, n);
        expect(Array.from(out)).toEqual(Array.from(ref));
      }
      // one field's columns of a [B, F D] gradient, as rows
      const [Bf, Ff] = [33, 5];
      const xg = lent(rand(Bf * Ff * D, 145));
      for (const fi of [0, 3, 4]) {
        const col = allocF32(Bf * D);
        const colRef = new Float32Array(Bf * D);
        fastKernels.fieldColumn(colRef, xg, Bf, Ff, fi, D);
        wasmKernels.fieldColumn(col, xg, Bf, Ff, fi, D);
        expect(Array.from(col)).toEqual(Array.from(colRef));
      }
      // columns 4 .. 20 of a [33, 24] block into columns 8 .. 24 of a [33, 40] one, copied and added
      const srcC = lent(rand(33 * 24, 147));
      for (const add of [false, true]) {
        const dstC = lent(rand(33 * 40, 148));
        const refC = dstC.slice();
        fastKernels.copyColumns(refC, 40, 8, srcC, 24, 4, 16, 33, add);
        wasmKernels.copyColumns(dstC, 40, 8, srcC, 24, 4, 16, 33, add);
        expect(Array.from(dstC)).toEqual(Array.from(refC));
      }
      // zero: exactly the view's floats, not one past either end
      const wide = lent(rand(1200, 146));
      for (const [from, n] of [[1, 64], [70, 67], [150, 1031]] as const) {
        const before = wide.slice();
        wasmKernels.zero(wide.subarray(from, from + n));
        expect(Array.from(wide.subarray(from, from + n)).every((v) => v === 0)).toBe(true);
        expect(wide[from - 1]).toBe(before[from - 1]);
        expect(wide[from + n]).toBe(before[from + n]);
      }
      // NaN and both infinities, one in the remainder
      const g = lent(rand(1031, 150));
      expect(wasmKernels.countNonFinite(g, g.length)).toBe(0);
      g[5] = Number.NaN;
      g[600] = Infinity;
      g[601] = -Infinity;
      g[1030] = Number.NaN;
      expect(wasmKernels.countNonFinite(g, g.length)).toBe(4);
      expect(wasmKernels.countNonFinite(g, 1028)).toBe(3);
      expect(fastKernels.countNonFinite(g, g.length)).toBe(4);
    });
  });
});
