/**
 * The gemm kernels as WebAssembly SIMD, generated instruction by instruction (see builder.ts).
 *
 * C = op(A) . op(B) runs over packed copies of the operands, so all three forms (A@B, A^T@B, A@B^T)
 * share one inner loop:
 *   packA  op(A) -> panels of 4 rows, k-major:    PA[ip][p][r]    = op(A)[4 ip + r, k0 + p]
 *   packB  op(B) -> panels of 8 columns, k-major: PB[jp][p][c]    = op(B)[k0 + p, 8 jp + c]
 * both zero-padded past m and n, for a block of kc values of p starting at k0. The micro-kernel
 * keeps a 4 x 8 tile of C in eight f32x4 registers: per p it loads 8 values of B (two v128), and
 * for each of the 4 rows splats one value of A and multiplies-adds it into that row's two
 * registers: 16 multiply-adds per 4 + 2 loads, 11 of V8's 16 xmm registers.
 *
 * Accumulation is in float32 (the naive oracle sums in doubles): results differ from it by float32
 * rounding, bounded by about k * 2^-24 * sum_p |a_ip b_pj| per entry, which the tests check.
 */
import { F32, F64, I32, V128, type Fn, type ModuleBuilder, type ValType } from "./builder.js";

/** kernel flags */
export const LOAD_C = 1;
export const ADD_BIAS = 2;
export const RELU = 4;

/**
 * The packing loop shared by packA and packB: panels of `w` (4 or 8) entries of a `count`-long
 * dimension, k-major, for p in [k0, k0 + kc). `rowMajorK` means entry i at p is src[(k0 + p) * count + i]
 * (a panel is then w contiguous floats per p: whole v128 copies, hoisted out of the p loop); else it is
 * src[i * k + k0 + p] (w strided loads per p). Past `count` the panel is zero-padded.
 */
function pack(f: Fn, w: 4 | 8, contiguousWhen: "trans" | "notrans"): void {
  const [src, dst, count, k, k0, kc, trans] = [0, 1, 2, 3, 4, 5, 6];
  const q = f.local(I32), p = f.local(I32), r = f.local(I32), i = f.local(I32), d = f.local(I32), panels = f.local(I32), sp = f.local(I32), stride = f.local(I32), end = f.local(I32);
  f.get(count).i32(w - 1).op("i32.add").i32(w === 4 ? 2 : 3).op("i32.shr_u").set(panels);
  f.get(dst).set(d);
  const contiguous = (): void => {
    f.get(trans);
    if (contiguousWhen === "notrans") f.op("i32.eqz");
  };
  f.for(q, () => f.i32(0), () => f.get(panels), 1, () => {
    contiguous();
    f.get(q).i32(w).op("i32.mul").i32(w).op("i32.add").get(count).op("i32.le_s").op("i32.and");
    f.if(
      () => {
        // a whole panel from rows of the stored matrix: w floats per p, one row of it apart
        f.get(src).get(k0).get(count).op("i32.mul").get(q).i32(w).op("i32.mul").op("i32.add").i32(2).op("i32.shl").op("i32.add").set(sp);
        f.get(count).i32(2).op("i32.shl").set(stride);
        f.get(d).get(kc).i32(w === 4 ? 4 : 5).op("i32.shl").op("i32.add").set(end);
        f.loop(() => {
          f.get(d).get(sp).simd("v128.load").simd("v128.store");
          if (w === 8) f.get(d).get(sp).simd("v128.load", 16).simd("v128.store", 16);
          f.get(sp).get(stride).op("i32.add").set(sp);
          f.get(d).i32(4 * w).op("i32.add").tee(d).get(end).op("i32.lt_u").brIf(0);
        });
      },
      () => {
        f.for(p, () => f.i32(0), () => f.get(kc), 1, () => {
          f.for(r, () => f.i32(0), () => f.i32(w), 1, () => {
            f.get(q).i32(w).op("i32.mul").get(r).op("i32.add").set(i);
            f.get(d).get(r).i32(2).op("i32.shl").op("i32.add"); // address of the packed entry
            f.get(i).get(count).op("i32.lt_s");
            f.if(
              () => {
                // src + 4 * (contiguous ? (k0 + p) * count + i : i * k + k0 + p)
                contiguous();
                f.if(
                  () => f.get(k0).get(p).op("i32.add").get(count).op("i32.mul").get(i).op("i32.add").set(i),
                  () => f.get(i).get(k).op("i32.mul").get(k0).op("i32.add").get(p).op("i32.add").set(i),
                );
                f.get(src).get(i).i32(2).op("i32.shl").op("i32.add").mem("f32.load");
              },
              () => f.f32(0), // padding past count
              F32,
            );
            f.mem("f32.store");
          });
          f.get(d).i32(4 * w).op("i32.add").set(d);
        });
      },
    );
  });
}

/** packA(src, dst, m, k, k0, kc, trans): op(A) into 4-row panels; trans means A is stored [k, m]. */
function packA(f: Fn): void {
  pack(f, 4, "trans");
}

/** packB(src, dst, n, k, k0, kc, trans): op(B) into 8-column panels; trans means B is stored [n, k]. */
function packB(f: Fn): void {
  pack(f, 8, "notrans");
}

/**
 * kernel(PA, PB, C, bias, mp, np, kc, ldc, flags, lda, m, n): for every 4 x 8 tile (ip < mp, jp < np),
 * C[tile] = (flags & LOAD_C ? C[tile] : 0) + sum_p op(A)[i, p] x PB[jp][p], then + bias (ADD_BIAS),
 * then ReLU (RELU, as IEEE max(0, x): -0 becomes +0 and a NaN stays NaN, like the TypeScript kernels), stored into
 * the m x n part of C (row-major, row stride ldc floats); bias is read 8 jp + 8 floats wide.
 *
 * `rows` picks where A comes from: packed panels PA (false), or (true) straight from A stored
 * [m, lda] with PA pointing at its column k0: the 4 rows of a tile are 4 streams, and a tile row past
 * m reads row m - 1 again (its results are never stored). That
 * saves packing A in the A@B and A@B^T forms.
 */
function kernel(f: Fn, rows: boolean, fma = false): void {
  const [PA, PB, C, bias, mp, np, kc, ldc, flags, lda, m, n] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const ip = f.local(I32), jp = f.local(I32), pb = f.local(I32), end = f.local(I32), row = f.local(I32), i = f.local(I32);
  const pa = Array.from({ length: 4 }, () => f.local(I32)); // rows: one pointer per tile row; packed: pa[0]
  const acc = Array.from({ length: 8 }, () => f.local(V128)); // acc[2 r + h]: row r, columns 4h..4h+3
  const b0 = f.local(V128), b1 = f.local(V128), a = f.local(V128), v = f.local(V128);
  f.for(ip, () => f.i32(0), () => f.get(mp), 1, () => {
    f.for(jp, () => f.i32(0), () => f.get(np), 1, () => {
      for (const r of acc) f.v128f32(0).set(r);
      if (rows) {
        for (let r = 0; r < 4; r++) {
          // i = min(4 ip + r, m - 1); pa[r] = PA + 4 i lda
          f.get(ip).i32(2).op("i32.shl").i32(r).op("i32.add").tee(i).get(m).i32(1).op("i32.sub").tee(row).get(i).get(row).op("i32.lt_s").op("select").set(i);
          f.get(PA).get(i).get(lda).op("i32.mul").i32(2).op("i32.shl").op("i32.add").set(pa[r]!);
        }
      } else f.get(PA).get(ip).get(kc).op("i32.mul").i32(4).op("i32.shl").op("i32.add").set(pa[0]!); // PA + ip * kc * 16
      f.get(PB).get(jp).get(kc).op("i32.mul").i32(5).op("i32.shl").op("i32.add").tee(pb); // PB + jp * kc * 32
      f.get(kc).i32(5).op("i32.shl").op("i32.add").set(end);
      // the inner loop: one p per iteration (the loop condition sits at the bottom, kc >= 1)
      f.loop(() => {
        f.get(pb).simd("v128.load").set(b0);
        f.get(pb).simd("v128.load", 16).set(b1);
        for (let r = 0; r < 4; r++) {
          if (rows) f.get(pa[r]!).simd("v128.load32_splat").set(a);
          else f.get(pa[0]!).simd("v128.load32_splat", 4 * r).set(a);
          if (fma) {
            // relaxed SIMD: acc = a * b + acc, fused or not as the CPU has it (opt-in: "wasm-fma")
            f.get(a).get(b0).get(acc[2 * r]!).simd("f32x4.relaxed_madd").set(acc[2 * r]!);
            f.get(a).get(b1).get(acc[2 * r + 1]!).simd("f32x4.relaxed_madd").set(acc[2 * r + 1]!);
          } else {
            f.get(acc[2 * r]!).get(a).get(b0).simd("f32x4.mul").simd("f32x4.add").set(acc[2 * r]!);
            f.get(acc[2 * r + 1]!).get(a).get(b1).simd("f32x4.mul").simd("f32x4.add").set(acc[2 * r + 1]!);
          }
        }
        if (rows) for (let r = 0; r < 4; r++) f.get(pa[r]!).i32(4).op("i32.add").set(pa[r]!);
        else f.get(pa[0]!).i32(16).op("i32.add").set(pa[0]!);
        f.get(pb).i32(32).op("i32.add").tee(pb).get(end).op("i32.lt_u").brIf(0);
      });
      // store the tile with its epilogue: whole 4-column groups with v128 stores, the edge of C
      // (rows past m, columns past n) lane by lane, so C needs no padding and may be any buffer
      for (let r = 0; r < 4; r++) {
        f.get(ip).i32(2).op("i32.shl").i32(r).op("i32.add").get(m).op("i32.lt_s");
        f.if(() => {
          // row = C + 4 * ((4 ip + r) * ldc + 8 jp)
          f.get(C).get(ip).i32(2).op("i32.shl").i32(r).op("i32.add").get(ldc).op("i32.mul").get(jp).i32(3).op("i32.shl").op("i32.add").i32(2).op("i32.shl").op("i32.add").set(row);
          for (let h = 0; h < 2; h++) {
            const col = (): void => void f.get(jp).i32(3).op("i32.shl").i32(4 * h).op("i32.add"); // 8 jp + 4 h
            const epilogue = (): void => {
              f.get(flags).i32(ADD_BIAS).op("i32.and");
              f.if(() => f.get(v).get(bias).get(jp).i32(5).op("i32.shl").op("i32.add").simd("v128.load", 16 * h).simd("f32x4.add").set(v));
              f.get(flags).i32(RELU).op("i32.and");
              f.if(() => f.v128f32(0).get(v).simd("f32x4.max").set(v));
            };
            f.get(acc[2 * r + h]!).set(v);
            col();
            f.i32(4).op("i32.add").get(n).op("i32.le_s");
            f.if(
              () => {
                f.get(flags).i32(LOAD_C).op("i32.and");
                f.if(() => f.get(row).simd("v128.load", 16 * h).get(v).simd("f32x4.add").set(v));
                epilogue();
                f.get(row).get(v).simd("v128.store", 16 * h);
              },
              () => {
                // a partial group: lanes col + l < n only
                f.get(flags).i32(LOAD_C).op("i32.and");
                f.if(() => {
                  for (let l = 0; l < 3; l++) {
                    col();
                    f.i32(l).op("i32.add").get(n).op("i32.lt_s");
                    f.if(() => f.get(v).get(v).simd("f32x4.extract_lane", l).get(row).mem("f32.load", 16 * h + 4 * l).op("f32.add").simd("f32x4.replace_lane", l).set(v));
                  }
                });
                epilogue();
                for (let l = 0; l < 3; l++) {
                  col();
                  f.i32(l).op("i32.add").get(n).op("i32.lt_s");
                  f.if(() => f.get(row).get(v).simd("f32x4.extract_lane", l).mem("f32.store", 16 * h + 4 * l));
                }
              },
            );
          }
        });
      }
    });
  });
}

/** Bytes 8..15 of a v128 moved to 0..7: the high two f32 lanes, ready for f64x2.promote_low_f32x4. */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** Lanes 0-1 of the first v128 and 0-1 of the second: two demoted f64x2 pairs back into one f32x4. */
const LOW_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/**
 * sumRowBags(out, x, offsets, rows, groups, dim, accumulate, relu): Kernels.sumRowBags in float32.
 * For each bag g, out[g] (+)= the sum of the rows of x named by rows[offsets[g] .. offsets[g + 1]),
 * added in ascending i, rectified at the store on request. Sixteen columns per pass in four f32x4
 * accumulators held across the bag (the bag's rows stay in L1 between passes), then eight for the
 * rest; dim must be a multiple of 8 (the caller checks).
 *
 * The TypeScript kernel sums in doubles (JavaScript's numbers) and rounds once; here each addition
 * rounds to float32, so the two agree within float32 rounding of the sum of the terms' magnitudes (a
 * per-id first layer's bag has a row per field; collecting its gradient, a row per occurrence of an
 * id). Summing in f64x2 lanes, for the TypeScript kernel's bits, had made this the largest kernel
 * after gemm in the demo's steps.
 */
function sumRowBags(f: Fn): void {
  const [out, x, offsets, rowsP, groups, dim, accumulate, relu] = [0, 1, 2, 3, 4, 5, 6, 7];
  const g = f.local(I32), d = f.local(I32), i = f.local(I32), lo = f.local(I32), hi = f.local(I32), q = f.local(I32), src = f.local(I32);
  const rowBytes = f.local(I32), d16 = f.local(I32);
  const s = Array.from({ length: 4 }, () => f.local(V128));
  f.get(dim).i32(2).op("i32.shl").set(rowBytes);
  f.get(dim).i32(-16).op("i32.and").set(d16);
  /** Columns d .. d + 4 acc.length of bag g, summed in the accumulators acc. */
  const pass = (acc: number[]): void => {
    // q = out + 4 (g dim + d)
    f.get(out).get(g).get(rowBytes).op("i32.mul").op("i32.add").get(d).i32(2).op("i32.shl").op("i32.add").set(q);
    f.get(accumulate);
    f.if(
      () => acc.forEach((r, h) => f.get(q).simd("v128.load", 16 * h).set(r)),
      () => acc.forEach((r) => f.v128f32(0).set(r)),
    );
    // i runs over the bag's entries of rows as byte addresses
    f.for(i, () => f.get(lo), () => f.get(hi), 4, () => {
      // src = x + rows[i] * 4 dim + 4 d
      f.get(x).get(i).mem("i32.load").get(rowBytes).op("i32.mul").op("i32.add").get(d).i32(2).op("i32.shl").op("i32.add").set(src);
      acc.forEach((r, h) => f.get(r).get(src).simd("v128.load", 16 * h).simd("f32x4.add").set(r));
    });
    acc.forEach((r, h) => {
      f.get(relu);
      f.if(() => f.v128f32(0).get(r).simd("f32x4.max").set(r)); // max(0, r): -0 becomes +0, a NaN stays NaN, as TypeScript's s <= 0 ? 0 : s
      f.get(q).get(r).simd("v128.store", 16 * h);
    });
  };
  f.for(g, () => f.i32(0), () => f.get(groups), 1, () => {
    // lo, hi = byte addresses of rows[offsets[g]] and rows[offsets[g + 1]]
    f.get(offsets).get(g).i32(2).op("i32.shl").op("i32.add").tee(lo).mem("i32.load", 4).i32(2).op("i32.shl").get(rowsP).op("i32.add").set(hi);
    f.get(lo).mem("i32.load").i32(2).op("i32.shl").get(rowsP).op("i32.add").set(lo);
    f.for(d, () => f.i32(0), () => f.get(d16), 16, () => pass(s));
    f.get(d16).get(dim).op("i32.lt_s");
    f.if(() => {
      f.get(d16).set(d);
      pass(s.slice(0, 2));
    });
  });
}

/**
 * reluBackward(dx, dy, y, n): dx += dy where y > 0, four lanes at a time; a lane where y <= 0 keeps
 * dx exactly (bitselect, so even a -0 stays -0): the TypeScript kernel's bits. n % 4 lanes are left
 * to the caller.
 */
function reluBackward(f: Fn): void {
  const [dx, dy, y, n] = [0, 1, 2, 3];
  const i = f.local(I32), end = f.local(I32), d = f.local(V128);
  f.get(n).i32(2).op("i32.shl").set(end);
  f.for(i, () => f.i32(0), () => f.get(end), 16, () => {
    f.get(dx).get(i).op("i32.add").simd("v128.load").set(d);
    f.get(dx).get(i).op("i32.add"); // where the result goes
    f.get(d).get(dy).get(i).op("i32.add").simd("v128.load").simd("f32x4.add"); // dx + dy
    f.get(d); // or dx as it was
    f.get(y).get(i).op("i32.add").simd("v128.load").v128f32(0).simd("f32x4.gt"); // mask: y > 0
    f.simd("v128.bitselect").simd("v128.store");
  });
}

/**
 * Four lanes of Adam at p, g, m, v (byte addresses in locals), in f64x2 pairs exactly as the
 * TypeScript kernel computes in doubles: gi = g * gradScale; m = beta1 m + c1 gi and
 * v = beta2 v + c2 gi gi, each stored as float32 and read back as it was stored; then
 * p = p decay - step m / (sqrt(v) / sq2 + eps). The same operations in the same order, rounded at the
 * same points: the same bits. `k` holds the f64x2 splats of the constants.
 */
function adamLanes(f: Fn, pa: number, ga: number, ma: number, va: number, k: Record<"beta1" | "beta2" | "c1" | "c2" | "step" | "sq2" | "decay" | "eps" | "gs", number>, t: Record<"g" | "m" | "v" | "p" | "lo" | "hi", number>): void {
  const halves = (src: number, lo: number, hi: number): void => {
    f.get(src).simd("f64x2.promote_low_f32x4").set(lo);
    f.get(src).get(src).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").set(hi);
  };
  const join = (lo: number, hi: number): void => {
    f.get(lo).simd("f32x4.demote_f64x2_zero").get(hi).simd("f32x4.demote_f64x2_zero").shuffle(LOW_LOW);
  };
  f.get(ga).simd("v128.load").set(t.g);
  f.get(ma).simd("v128.load").set(t.m);
  f.get(va).simd("v128.load").set(t.v);
  f.get(pa).simd("v128.load").set(t.p);
  // m and v, per half: new = beta x old + c (gi or gi^2), rounded to float32 on the store
  const gLo = f.local(V128), gHi = f.local(V128), mLo = f.local(V128), mHi = f.local(V128), vLo = f.local(V128), vHi = f.local(V128);
  halves(t.g, gLo, gHi);
  for (const x of [gLo, gHi]) f.get(x).get(k.gs).simd("f64x2.mul").set(x);
  halves(t.m, mLo, mHi);
  halves(t.v, vLo, vHi);
  for (const [mm, gg] of [[mLo, gLo], [mHi, gHi]] as const) f.get(k.beta1).get(mm).simd("f64x2.mul").get(k.c1).get(gg).simd("f64x2.mul").simd("f64x2.add").set(mm);
  for (const [vv, gg] of [[vLo, gLo], [vHi, gHi]] as const) f.get(k.beta2).get(vv).simd("f64x2.mul").get(k.c2).get(gg).simd("f64x2.mul").get(gg).simd("f64x2.mul").simd("f64x2.add").set(vv);
  join(mLo, mHi);
  f.set(t.m);
  join(vLo, vHi);
  f.set(t.v);
  f.get(ma).get(t.m).simd("v128.store");
  f.get(va).get(t.v).simd("v128.store");
  // p, from the moments as stored
  halves(t.m, mLo, mHi);
  halves(t.v, vLo, vHi);
  halves(t.p, t.lo, t.hi);
  for (const [pp, mm, vv] of [[t.lo, mLo, vLo], [t.hi, mHi, vHi]] as const) {
    f.get(pp).get(k.decay).simd("f64x2.mul");
    f.get(k.step).get(mm).simd("f64x2.mul");
    f.get(vv).simd("f64x2.sqrt").get(k.sq2).simd("f64x2.div").get(k.eps).simd("f64x2.add");
    f.simd("f64x2.div").simd("f64x2.sub").set(pp);
  }
  f.get(pa);
  join(t.lo, t.hi);
  f.simd("v128.store");
}

const ADAM_CONSTANTS = ["beta1", "beta2", "c1", "c2", "step", "sq2", "decay", "eps", "gs"] as const;

/** adamDense(p, g, m, v, n, beta1, beta2, c1, c2, step, sq2, decay, eps, gradScale): n a multiple of 4. */
function adamDense(f: Fn): void {
  const [p, g, m, v, n] = [0, 1, 2, 3, 4];
  const k = Object.fromEntries(ADAM_CONSTANTS.map((name) => [name, f.local(V128)])) as Record<(typeof ADAM_CONSTANTS)[number], number>;
  ADAM_CONSTANTS.forEach((name, i) => f.get(5 + i).simd("f64x2.splat").set(k[name]));
  const t = { g: f.local(V128), m: f.local(V128), v: f.local(V128), p: f.local(V128), lo: f.local(V128), hi: f.local(V128) };
  const i = f.local(I32), end = f.local(I32), pa = f.local(I32), ga = f.local(I32), ma = f.local(I32), va = f.local(I32);
  f.get(n).i32(2).op("i32.shl").set(end);
  f.for(i, () => f.i32(0), () => f.get(end), 16, () => {
    for (const [a, base] of [[pa, p], [ga, g], [ma, m], [va, v]] as const) f.get(base).get(i).op("i32.add").set(a);
    adamLanes(f, pa, ga, ma, va, k, t);
  });
}

/** Rows per block of the lazy update: three blocks of 64 rows of 16 floats (12 KiB) stay in L1. */
export const ADAM_ROWS_BLOCK = 64;

/**
 * adamRows(p, g, rows, count, dim, m, v, scratch, ...constants): the lazy update of the listed rows
 * (dim a multiple of 4), in blocks of ADAM_ROWS_BLOCK rows: the block's rows of p, m and v are copied
 * into `scratch` (3 ADAM_ROWS_BLOCK dim floats), updated there as one dense run, and copied back.
 * The same arithmetic as row by row, so the same bits; but the copies are a few instructions per row,
 * so the CPU has the next rows' loads in flight while the last ones miss the cache (rows of a large
 * table are scattered: updated in place, each row's long run of f64 arithmetic kept one miss at a
 * time waiting, about 2x slower here at the workload's tables).
 */
function adamRows(f: Fn): void {
  const [p, g, rows, count, dim, m, v, scratch] = [0, 1, 2, 3, 4, 5, 6, 7];
  const k = Object.fromEntries(ADAM_CONSTANTS.map((name) => [name, f.local(V128)])) as Record<(typeof ADAM_CONSTANTS)[number], number>;
  ADAM_CONSTANTS.forEach((name, i) => f.get(8 + i).simd("f64x2.splat").set(k[name]));
  const t = { g: f.local(V128), m: f.local(V128), v: f.local(V128), p: f.local(V128), lo: f.local(V128), hi: f.local(V128) };
  const r0 = f.local(I32), n = f.local(I32), r = f.local(I32), d = f.local(I32), row = f.local(I32), rowBytes = f.local(I32), stripe = f.local(I32);
  const sp = f.local(I32), sm = f.local(I32), sv = f.local(I32), i = f.local(I32), pa = f.local(I32), ga = f.local(I32), ma = f.local(I32), va = f.local(I32);
  f.get(dim).i32(2).op("i32.shl").set(rowBytes);
  // the scratch's three blocks: p, m, v
  f.get(rowBytes).i32(ADAM_ROWS_BLOCK).op("i32.mul").set(stripe);
  f.get(scratch).set(sp);
  f.get(sp).get(stripe).op("i32.add").set(sm);
  f.get(sm).get(stripe).op("i32.add").set(sv);
  /** Copies the block's rows between the tables and the scratch (`toScratch`: gather, else scatter back). */
  const copyRows = (toScratch: boolean): void => {
    f.for(r, () => f.i32(0), () => f.get(n), 1, () => {
      // row = byte offset of table row rows[r0 + r]
      f.get(rows).get(r0).get(r).op("i32.add").i32(2).op("i32.shl").op("i32.add").mem("i32.load").get(rowBytes).op("i32.mul").set(row);
      f.for(d, () => f.i32(0), () => f.get(rowBytes), 16, () => {
        for (const [table, block] of [[p, sp], [m, sm], [v, sv]] as const) {
          const tableAt = (): void => void f.get(table).get(row).op("i32.add").get(d).op("i32.add");
          const blockAt = (): void => void f.get(block).get(r).get(rowBytes).op("i32.mul").op("i32.add").get(d).op("i32.add");
          if (toScratch) blockAt(), tableAt(), f.simd("v128.load").simd("v128.store");
          else tableAt(), blockAt(), f.simd("v128.load").simd("v128.store");
        }
      });
    });
  };
  f.for(r0, () => f.i32(0), () => f.get(count), ADAM_ROWS_BLOCK, () => {
    // n = min(ADAM_ROWS_BLOCK, count - r0)
    f.get(count).get(r0).op("i32.sub").set(n);
    f.get(n).i32(ADAM_ROWS_BLOCK).op("i32.gt_s");
    f.if(() => f.i32(ADAM_ROWS_BLOCK).set(n));
    copyRows(true);
    // the block as one dense run; its gradient rows are g's rows r0 .. r0 + n, contiguous already
    f.for(i, () => f.i32(0), () => f.get(n).get(rowBytes).op("i32.mul"), 16, () => {
      f.get(sp).get(i).op("i32.add").set(pa);
      f.get(sm).get(i).op("i32.add").set(ma);
      f.get(sv).get(i).op("i32.add").set(va);
      f.get(g).get(r0).get(rowBytes).op("i32.mul").op("i32.add").get(i).op("i32.add").set(ga);
      adamLanes(f, pa, ga, ma, va, k, t);
    });
    copyRows(false);
  });
}

/** Flags of the narrow products: add to out, add the bias, ReLU (applied in that order, as the TypeScript gemm does). */
export const NARROW_ACCUMULATE = 1, NARROW_BIAS = 2, NARROW_RELU = 4;

/**
 * The epilogue of one narrow result in float32: v (+ out[q]) (+ bias[j]) then max(0, .), a NaN
 * staying NaN as in TypeScript's `v <= 0 ? 0 : v`; stores it at q.
 */
function narrowStore(f: Fn, v: number, q: number, biasAt: () => void, flags: number): void {
  f.get(flags).i32(NARROW_ACCUMULATE).op("i32.and");
  f.if(() => f.get(q).mem("f32.load").get(v).op("f32.add").set(v));
  f.get(flags).i32(NARROW_BIAS).op("i32.and");
  f.if(() => {
    f.get(v);
    biasAt();
    f.mem("f32.load").op("f32.add").set(v);
  });
  f.get(flags).i32(NARROW_RELU).op("i32.and");
  f.if(() => f.f32(0).get(v).op("f32.max").set(v));
  f.get(q).get(v).mem("f32.store");
}

/**
 * narrowNT(out, a, b, bias, m, n, k, flags): out[i, j] = a[i, :] . b[j, :] for a [m, k], b [n, k]
 * (the x @ W^T of a layer with one or two outputs: a tower's logit, a gate), one dot product per
 * entry: four lanes of partial sums over p, added pairwise at the end, then the k % 4 last terms.
 * Packing such a product for the register tile would pad n to 8 columns, most of them zeros.
 */
function narrowNT(f: Fn): void {
  const [out, a, b, bias, m, n, k, flags] = [0, 1, 2, 3, 4, 5, 6, 7];
  const i = f.local(I32), j = f.local(I32), p = f.local(I32), rowBytes = f.local(I32), k4 = f.local(I32);
  const ar = f.local(I32), br = f.local(I32), q = f.local(I32);
  const acc = f.local(V128), v = f.local(F32);
  f.get(k).i32(2).op("i32.shl").set(rowBytes);
  f.get(rowBytes).i32(-16).op("i32.and").set(k4);
  f.get(out).set(q);
  f.for(i, () => f.i32(0), () => f.get(m), 1, () => {
    f.get(a).get(i).get(rowBytes).op("i32.mul").op("i32.add").set(ar);
    f.for(j, () => f.i32(0), () => f.get(n), 1, () => {
      f.get(b).get(j).get(rowBytes).op("i32.mul").op("i32.add").set(br);
      f.v128f32(0).set(acc);
      f.for(p, () => f.i32(0), () => f.get(k4), 16, () => {
        f.get(acc).get(ar).get(p).op("i32.add").simd("v128.load").get(br).get(p).op("i32.add").simd("v128.load").simd("f32x4.mul").simd("f32x4.add").set(acc);
      });
      f.get(acc).simd("f32x4.extract_lane", 0).get(acc).simd("f32x4.extract_lane", 1).op("f32.add");
      f.get(acc).simd("f32x4.extract_lane", 2).get(acc).simd("f32x4.extract_lane", 3).op("f32.add").op("f32.add").set(v);
      f.for(p, () => f.get(k4), () => f.get(rowBytes), 4, () => {
        f.get(v).get(ar).get(p).op("i32.add").mem("f32.load").get(br).get(p).op("i32.add").mem("f32.load").op("f32.mul").op("f32.add").set(v);
      });
      narrowStore(f, v, q, () => f.get(bias).get(j).i32(2).op("i32.shl").op("i32.add"), flags);
      f.get(q).i32(4).op("i32.add").set(q);
    });
  });
}

/**
 * narrowNN(out, a, b, bias, m, n, k, flags): out[i, :] = sum over p < k of a[i, p] b[p, :] for a
 * [m, k] with k of one to four (the input gradient of a layer with one or two outputs: dz @ W), four
 * columns at a time and the n % 4 last one by one, the terms added in ascending p.
 */
function narrowNN(f: Fn): void {
  const [out, a, b, bias, m, n, k, flags] = [0, 1, 2, 3, 4, 5, 6, 7];
  const i = f.local(I32), c = f.local(I32), p = f.local(I32), rowBytes = f.local(I32), n4 = f.local(I32), kBytes = f.local(I32);
  const ar = f.local(I32), orow = f.local(I32), q = f.local(I32);
  const acc = f.local(V128), v = f.local(F32);
  f.get(n).i32(2).op("i32.shl").set(rowBytes);
  f.get(rowBytes).i32(-16).op("i32.and").set(n4);
  f.get(k).i32(2).op("i32.shl").set(kBytes);
  f.for(i, () => f.i32(0), () => f.get(m), 1, () => {
    f.get(a).get(i).get(kBytes).op("i32.mul").op("i32.add").set(ar);
    f.get(out).get(i).get(rowBytes).op("i32.mul").op("i32.add").set(orow);
    f.for(c, () => f.i32(0), () => f.get(n4), 16, () => {
      f.v128f32(0).set(acc);
      // acc += a[i, p] * b[p, c .. c + 4]   (p as a byte offset into a's row)
      f.for(p, () => f.i32(0), () => f.get(kBytes), 4, () => {
        f.get(acc).get(ar).get(p).op("i32.add").mem("f32.load").simd("f32x4.splat");
        f.get(b).get(p).i32(2).op("i32.shr_u").get(rowBytes).op("i32.mul").op("i32.add").get(c).op("i32.add").simd("v128.load");
        f.simd("f32x4.mul").simd("f32x4.add").set(acc);
      });
      f.get(orow).get(c).op("i32.add").set(q);
      f.get(flags).i32(NARROW_ACCUMULATE).op("i32.and");
      f.if(() => f.get(q).simd("v128.load").get(acc).simd("f32x4.add").set(acc));
      f.get(flags).i32(NARROW_BIAS).op("i32.and");
      f.if(() => f.get(acc).get(bias).get(c).op("i32.add").simd("v128.load").simd("f32x4.add").set(acc));
      f.get(flags).i32(NARROW_RELU).op("i32.and");
      f.if(() => f.v128f32(0).get(acc).simd("f32x4.max").set(acc)); // max(0, .): -0 becomes +0, a NaN stays NaN
      f.get(q).get(acc).simd("v128.store");
    });
    f.for(c, () => f.get(n4), () => f.get(rowBytes), 4, () => {
      f.f32(0).set(v);
      f.for(p, () => f.i32(0), () => f.get(kBytes), 4, () => {
        f.get(v).get(ar).get(p).op("i32.add").mem("f32.load");
        f.get(b).get(p).i32(2).op("i32.shr_u").get(rowBytes).op("i32.mul").op("i32.add").get(c).op("i32.add").mem("f32.load");
        f.op("f32.mul").op("f32.add").set(v);
      });
      f.get(orow).get(c).op("i32.add").set(q);
      narrowStore(f, v, q, () => f.get(bias).get(c).op("i32.add"), flags);
    });
  });
}

/**
 * addRowVector(out, x, bias, rows, cols): out[r, c] = x[r, c] + bias[c], four columns at a time
 * (cols a multiple of 4). One float32 addition per entry: the TypeScript kernel's bits.
 */
function addRowVector(f: Fn): void {
  const [out, x, bias, rows, cols] = [0, 1, 2, 3, 4];
  const r = f.local(I32), c = f.local(I32), rowBytes = f.local(I32), at = f.local(I32);
  f.get(cols).i32(2).op("i32.shl").set(rowBytes);
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.get(r).get(rowBytes).op("i32.mul").set(at);
    f.for(c, () => f.i32(0), () => f.get(rowBytes), 16, () => {
      f.get(out).get(at).op("i32.add").get(c).op("i32.add");
      f.get(x).get(at).op("i32.add").get(c).op("i32.add").simd("v128.load");
      f.get(bias).get(c).op("i32.add").simd("v128.load");
      f.simd("f32x4.add").simd("v128.store");
    });
  });
}

/**
 * mixExperts(y, gates, experts, E, batch, width): y[b, :] += gates[b, e] * experts[e][b, :] for e in
 * order, each update in f64x2 lanes and rounded to float32 once, as the TypeScript kernel does it
 * (the product of two floats is exact in a double): the same bits. `experts` holds E byte offsets;
 * width a multiple of 4.
 */
function mixExperts(f: Fn): void {
  const [y, gates, experts, E, batch, width] = [0, 1, 2, 3, 4, 5];
  const e = f.local(I32), b = f.local(I32), h = f.local(I32), rowBytes = f.local(I32), X = f.local(I32), yp = f.local(I32), xp = f.local(I32);
  const g = f.local(V128), yv = f.local(V128), xv = f.local(V128), lo = f.local(V128), hi = f.local(V128);
  f.get(width).i32(2).op("i32.shl").set(rowBytes);
  f.for(e, () => f.i32(0), () => f.get(E), 1, () => {
    f.get(experts).get(e).i32(2).op("i32.shl").op("i32.add").mem("i32.load").set(X);
    f.for(b, () => f.i32(0), () => f.get(batch), 1, () => {
      // g = gates[b E + e], as a double in both lanes
      f.get(gates).get(b).get(E).op("i32.mul").get(e).op("i32.add").i32(2).op("i32.shl").op("i32.add").mem("f32.load").op("f64.promote_f32").simd("f64x2.splat").set(g);
      f.get(y).get(b).get(rowBytes).op("i32.mul").op("i32.add").set(yp);
      f.get(X).get(b).get(rowBytes).op("i32.mul").op("i32.add").set(xp);
      f.for(h, () => f.i32(0), () => f.get(rowBytes), 16, () => {
        f.get(yp).get(h).op("i32.add").simd("v128.load").set(yv);
        f.get(xp).get(h).op("i32.add").simd("v128.load").set(xv);
        f.get(yv).simd("f64x2.promote_low_f32x4").get(g).get(xv).simd("f64x2.promote_low_f32x4").simd("f64x2.mul").simd("f64x2.add").set(lo);
        f.get(yv).get(yv).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").get(g).get(xv).get(xv).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").simd("f64x2.mul").simd("f64x2.add").set(hi);
        f.get(yp).get(h).op("i32.add");
        f.get(lo).simd("f32x4.demote_f64x2_zero").get(hi).simd("f32x4.demote_f64x2_zero").shuffle(LOW_LOW);
        f.simd("v128.store");
      });
    });
  });
}

/**
 * gatherFields(out, tables, ids, F, batch, dim): out[b, f dim .. (f+1) dim) = tables[f][ids[b F + f], :]
 * (tables: F byte offsets; dim a multiple of 4): v128 copies, the TypeScript kernel's result exactly.
 */
function gatherFields(f: Fn): void {
  const [out, tables, ids, F, batch, dim] = [0, 1, 2, 3, 4, 5];
  const fi = f.local(I32), b = f.local(I32), d = f.local(I32), rowBytes = f.local(I32), t = f.local(I32), src = f.local(I32), dst = f.local(I32);
  f.get(dim).i32(2).op("i32.shl").set(rowBytes);
  f.for(fi, () => f.i32(0), () => f.get(F), 1, () => {
    f.get(tables).get(fi).i32(2).op("i32.shl").op("i32.add").mem("i32.load").set(t);
    f.for(b, () => f.i32(0), () => f.get(batch), 1, () => {
      // src = table + ids[b F + f] * rowBytes; dst = out + (b F + f) * rowBytes
      f.get(b).get(F).op("i32.mul").get(fi).op("i32.add").set(dst);
      f.get(t).get(ids).get(dst).i32(2).op("i32.shl").op("i32.add").mem("i32.load").get(rowBytes).op("i32.mul").op("i32.add").set(src);
      f.get(out).get(dst).get(rowBytes).op("i32.mul").op("i32.add").set(dst);
      f.for(d, () => f.i32(0), () => f.get(rowBytes), 16, () => {
        f.get(dst).get(d).op("i32.add").get(src).get(d).op("i32.add").simd("v128.load").simd("v128.store");
      });
    });
  });
}

/**
 * copyColumns(dst, ds, src, ss, width, rows, add): for each row r, width floats from src + r ss
 * bytes to dst + r ds bytes, added to what is there with `add` (one float32 addition per entry: the
 * TypeScript kernel's bits); dst and src already point at the first column; width a multiple of 4.
 */
function copyColumns(f: Fn): void {
  const [dst, ds, src, ss, width, rows, add] = [0, 1, 2, 3, 4, 5, 6];
  const r = f.local(I32), c = f.local(I32), bytes = f.local(I32), d = f.local(I32), sp = f.local(I32);
  f.get(width).i32(2).op("i32.shl").set(bytes);
  f.get(dst).set(d);
  f.get(src).set(sp);
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.get(add);
    f.if(
      () => f.for(c, () => f.i32(0), () => f.get(bytes), 16, () => {
        f.get(d).get(c).op("i32.add");
        f.get(d).get(c).op("i32.add").simd("v128.load").get(sp).get(c).op("i32.add").simd("v128.load").simd("f32x4.add").simd("v128.store");
      }),
      () => f.for(c, () => f.i32(0), () => f.get(bytes), 16, () => {
        f.get(d).get(c).op("i32.add").get(sp).get(c).op("i32.add").simd("v128.load").simd("v128.store");
      }),
    );
    f.get(d).get(ds).op("i32.add").set(d);
    f.get(sp).get(ss).op("i32.add").set(sp);
  });
}

/**
 * zero(dest, bytes): memory.fill with 0, which engines run as a memset. (TypedArray.fill on a view
 * of shared memory took about 8x longer here: it may not assume that no other thread writes.)
 */
function zero(f: Fn): void {
  f.get(0).i32(0).get(1).memoryFill();
}

/**
 * fieldColumn(out, x, batch, fields, f, dim): out[b, :] = x[b, f dim .. (f+1) dim) for b < batch (x is
 * [batch, fields dim]): field f's columns of the model input's gradient, as rows for its table;
 * v128 copies (dim a multiple of 4).
 */
function fieldColumn(f: Fn): void {
  const [out, x, batch, fields, fi, dim] = [0, 1, 2, 3, 4, 5];
  const b = f.local(I32), d = f.local(I32), rowBytes = f.local(I32), stride = f.local(I32), src = f.local(I32), dst = f.local(I32);
  f.get(dim).i32(2).op("i32.shl").set(rowBytes);
  f.get(rowBytes).get(fields).op("i32.mul").set(stride);
  f.get(x).get(fi).get(rowBytes).op("i32.mul").op("i32.add").set(src);
  f.get(out).set(dst);
  f.for(b, () => f.i32(0), () => f.get(batch), 1, () => {
    f.for(d, () => f.i32(0), () => f.get(rowBytes), 16, () => {
      f.get(dst).get(d).op("i32.add").get(src).get(d).op("i32.add").simd("v128.load").simd("v128.store");
    });
    f.get(src).get(stride).op("i32.add").set(src);
    f.get(dst).get(rowBytes).op("i32.add").set(dst);
  });
}

/**
 * sumRowsInto(out, x, acc, rows, cols): out[c] += the sum over r of x[r, c] (a bias's gradient),
 * the TypeScript kernel's bits: each column's sum is a double built in ascending r (f64x2 lanes in
 * `acc`, cols doubles of scratch, streamed row by row so x is read in order) and added to out[c]
 * once. cols a multiple of 4.
 */
function sumRowsInto(f: Fn): void {
  const [out, x, acc, rows, cols] = [0, 1, 2, 3, 4];
  const r = f.local(I32), c = f.local(I32), row = f.local(I32), rowBytes = f.local(I32), a = f.local(I32), v = f.local(V128);
  f.get(cols).i32(2).op("i32.shl").set(rowBytes);
  // acc = 0 (cols doubles: twice the row's bytes)
  f.for(c, () => f.i32(0), () => f.get(rowBytes).i32(1).op("i32.shl"), 16, () => f.get(acc).get(c).op("i32.add").v128f32(0).simd("v128.store"));
  f.get(x).set(row);
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.for(c, () => f.i32(0), () => f.get(rowBytes), 16, () => {
      // four floats of the row; their doubles live at acc + 2c (two f64x2)
      f.get(row).get(c).op("i32.add").simd("v128.load").set(v);
      f.get(acc).get(c).i32(1).op("i32.shl").op("i32.add").set(a);
      f.get(a).get(a).simd("v128.load").get(v).simd("f64x2.promote_low_f32x4").simd("f64x2.add").simd("v128.store");
      f.get(a).get(a).simd("v128.load", 16).get(v).get(v).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").simd("f64x2.add").simd("v128.store", 16);
    });
    f.get(row).get(rowBytes).op("i32.add").set(row);
  });
  // out[c] = float32(out[c] + acc[c])
  f.for(c, () => f.i32(0), () => f.get(rowBytes), 16, () => {
    f.get(acc).get(c).i32(1).op("i32.shl").op("i32.add").set(a);
    f.get(out).get(c).op("i32.add"); // where the result goes
    f.get(out).get(c).op("i32.add").simd("v128.load").set(v);
    f.get(v).simd("f64x2.promote_low_f32x4").get(a).simd("v128.load").simd("f64x2.add").simd("f32x4.demote_f64x2_zero");
    f.get(v).get(v).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").get(a).simd("v128.load", 16).simd("f64x2.add").simd("f32x4.demote_f64x2_zero");
    f.shuffle(LOW_LOW).simd("v128.store");
  });
}

/**
 * mixExpertsBackward(dgates, dexperts, dy, gates, experts, E, batch, width): the TypeScript kernel's
 * bits. For each expert e and row b, with g = gates[b, e]:
 *   dexperts[e][b, :] += g dy[b, :]   in f64x2 lanes, rounded once per entry (g dy is exact in a double)
 *   dgates[b, e] += <dy[b, :], experts[e][b, :]>   the dot a double summed in ascending h, as in TypeScript
 * `experts` and `dexperts` hold E byte offsets (a dexperts entry of 0: no gradient for that expert);
 * dgates 0: none. width a multiple of 4.
 */
function mixExpertsBackward(f: Fn): void {
  const [dgates, dexperts, dy, gates, experts, E, batch, width] = [0, 1, 2, 3, 4, 5, 6, 7];
  const e = f.local(I32), b = f.local(I32), h = f.local(I32), rowBytes = f.local(I32), X = f.local(I32), GX = f.local(I32), o = f.local(I32), gi = f.local(I32);
  const g = f.local(V128), d = f.local(V128), xv = f.local(V128), lo = f.local(V128), hi = f.local(V128), gx = f.local(V128);
  const dot = f.local(F64);
  f.get(width).i32(2).op("i32.shl").set(rowBytes);
  f.for(e, () => f.i32(0), () => f.get(E), 1, () => {
    f.get(experts).get(e).i32(2).op("i32.shl").op("i32.add").mem("i32.load").set(X);
    f.get(dexperts).get(e).i32(2).op("i32.shl").op("i32.add").mem("i32.load").set(GX);
    f.for(b, () => f.i32(0), () => f.get(batch), 1, () => {
      // gi = 4 (b E + e): this row's gate; g = that gate as a double in both lanes
      f.get(b).get(E).op("i32.mul").get(e).op("i32.add").i32(2).op("i32.shl").set(gi);
      f.get(gates).get(gi).op("i32.add").mem("f32.load").op("f64.promote_f32").simd("f64x2.splat").set(g);
      f.get(b).get(rowBytes).op("i32.mul").set(o);
      f.f64(0).set(dot);
      f.for(h, () => f.get(o), () => f.get(o).get(rowBytes).op("i32.add"), 16, () => {
        f.get(dy).get(h).op("i32.add").simd("v128.load").set(d);
        f.get(X).get(h).op("i32.add").simd("v128.load").set(xv);
        // the four products dy x, exact as doubles, added to the dot one at a time
        f.get(d).simd("f64x2.promote_low_f32x4").get(xv).simd("f64x2.promote_low_f32x4").simd("f64x2.mul").set(lo);
        f.get(d).get(d).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").get(xv).get(xv).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").simd("f64x2.mul").set(hi);
        for (const [half, lane] of [[lo, 0], [lo, 1], [hi, 0], [hi, 1]] as const) f.get(dot).get(half).simd("f64x2.extract_lane", lane).op("f64.add").set(dot);
        f.get(GX);
        f.if(() => {
          f.get(GX).get(h).op("i32.add"); // where the result goes
          f.get(GX).get(h).op("i32.add").simd("v128.load").set(gx);
          f.get(gx).simd("f64x2.promote_low_f32x4").get(g).get(d).simd("f64x2.promote_low_f32x4").simd("f64x2.mul").simd("f64x2.add").simd("f32x4.demote_f64x2_zero");
          f.get(gx).get(gx).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").get(g).get(d).get(d).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").simd("f64x2.mul").simd("f64x2.add").simd("f32x4.demote_f64x2_zero");
          f.shuffle(LOW_LOW).simd("v128.store");
        });
      });
      f.get(dgates);
      f.if(() => {
        f.get(dgates).get(gi).op("i32.add"); // where the result goes
        f.get(dgates).get(gi).op("i32.add").mem("f32.load").op("f64.promote_f32").get(dot).op("f64.add").op("f32.demote_f64").mem("f32.store");
      });
    });
  });
}

/**
 * scatterAddRows(grad, dOut, ids, count, dim): grad[ids[i], :] += dOut[i, :] for i < count, four
 * lanes at a time (one float32 addition per entry: the TypeScript kernel's bits); dim a multiple of 4.
 */
function scatterAddRows(f: Fn): void {
  const [grad, dOut, ids, count, dim] = [0, 1, 2, 3, 4];
  const i = f.local(I32), d = f.local(I32), rowBytes = f.local(I32), dst = f.local(I32), src = f.local(I32);
  f.get(dim).i32(2).op("i32.shl").set(rowBytes);
  f.get(dOut).set(src);
  f.for(i, () => f.i32(0), () => f.get(count), 1, () => {
    f.get(grad).get(ids).get(i).i32(2).op("i32.shl").op("i32.add").mem("i32.load").get(rowBytes).op("i32.mul").op("i32.add").set(dst);
    f.for(d, () => f.i32(0), () => f.get(rowBytes), 16, () => {
      f.get(dst).get(d).op("i32.add");
      f.get(dst).get(d).op("i32.add").simd("v128.load").get(src).get(d).op("i32.add").simd("v128.load").simd("f32x4.add");
      f.simd("v128.store");
    });
    f.get(src).get(rowBytes).op("i32.add").set(src);
  });
}

/**
 * addScaled(out, x, n, s): out[i] = float32(out[i] + s x[i]) with s a double, in f64x2 lanes (the
 * TypeScript kernel computes the same in doubles: the same bits); n a multiple of 4.
 */
function addScaled(f: Fn): void {
  const [out, x, n, s] = [0, 1, 2, 3];
  const i = f.local(I32), end = f.local(I32), k = f.local(V128), o = f.local(V128), v = f.local(V128);
  f.get(s).simd("f64x2.splat").set(k);
  f.get(n).i32(2).op("i32.shl").set(end);
  f.for(i, () => f.i32(0), () => f.get(end), 16, () => {
    f.get(out).get(i).op("i32.add"); // where the result goes
    f.get(out).get(i).op("i32.add").simd("v128.load").set(o);
    f.get(x).get(i).op("i32.add").simd("v128.load").set(v);
    f.get(o).simd("f64x2.promote_low_f32x4").get(k).get(v).simd("f64x2.promote_low_f32x4").simd("f64x2.mul").simd("f64x2.add").simd("f32x4.demote_f64x2_zero");
    f.get(o).get(o).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").get(k).get(v).get(v).shuffle(HIGH_HALF).simd("f64x2.promote_low_f32x4").simd("f64x2.mul").simd("f64x2.add").simd("f32x4.demote_f64x2_zero");
    f.shuffle(LOW_LOW).simd("v128.store");
  });
}

/**
 * countNonFinite(x, n) -> how many of x[0 .. n) are NaN or infinite (n a multiple of 4): v - v is 0
 * for a finite v and NaN otherwise, so (v - v) != 0 is a lane mask of all ones (-1) exactly there;
 * subtracting the masks counts per lane, and the four lane counts are added at the end.
 */
function countNonFinite(f: Fn): void {
  const [x, n] = [0, 1];
  const i = f.local(I32), end = f.local(I32), v = f.local(V128), count = f.local(V128);
  f.v128f32(0).set(count); // all-zero bits: four i32 zeros too
  f.get(n).i32(2).op("i32.shl").set(end);
  f.for(i, () => f.i32(0), () => f.get(end), 16, () => {
    f.get(x).get(i).op("i32.add").simd("v128.load").set(v);
    f.get(count).get(v).get(v).simd("f32x4.sub").v128f32(0).simd("f32x4.ne").simd("i32x4.sub").set(count);
  });
  for (let lane = 0; lane < 4; lane++) f.get(count).simd("i32x4.extract_lane", lane);
  f.op("i32.add").op("i32.add").op("i32.add");
}

/**
 * Adds the kernels' functions to a module. With `fma`, the gemm's micro-kernels multiply-add with
 * relaxed SIMD's f32x4.relaxed_madd (one rounding where the CPU fuses it, two where it does not).
 */
export function addGemm(m: ModuleBuilder, opts: { fma?: boolean } = {}): void {
  const fma = opts.fma === true;
  const i32s = (n: number): ValType[] => Array.from({ length: n }, (): ValType => I32);
  m.fn("packA", i32s(7), [], packA);
  m.fn("packB", i32s(7), [], packB);
  m.fn("kernel", i32s(12), [], (f) => kernel(f, false, fma));
  m.fn("kernelRows", i32s(12), [], (f) => kernel(f, true, fma));
  m.fn("sumRowBags", i32s(8), [], sumRowBags);
  m.fn("narrowNT", i32s(8), [], narrowNT);
  m.fn("narrowNN", i32s(8), [], narrowNN);
  m.fn("reluBackward", i32s(4), [], reluBackward);
  m.fn("addRowVector", i32s(5), [], addRowVector);
  m.fn("gatherFields", i32s(6), [], gatherFields);
  m.fn("mixExperts", i32s(6), [], mixExperts);
  m.fn("adamDense", [...i32s(5), ...ADAM_CONSTANTS.map((): ValType => F64)], [], adamDense);
  m.fn("adamRows", [...i32s(8), ...ADAM_CONSTANTS.map((): ValType => F64)], [], adamRows);
  m.fn("sumRowsInto", i32s(5), [], sumRowsInto);
  m.fn("fieldColumn", i32s(6), [], fieldColumn);
  m.fn("zero", i32s(2), [], zero);
  m.fn("copyColumns", i32s(7), [], copyColumns);
  m.fn("mixExpertsBackward", i32s(8), [], mixExpertsBackward);
  m.fn("scatterAddRows", i32s(5), [], scatterAddRows);
  m.fn("addScaled", [...i32s(3), F64], [], addScaled);
  m.fn("countNonFinite", i32s(2), [I32], countNonFinite);
}
