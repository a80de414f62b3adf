/**
 * The SIMD peak of this machine's cores, as WebAssembly reaches it, alone and two at once (Node only:
 * the second probe runs on a worker thread, src/cli/peak-worker.ts).
 *
 * The loop: twelve independent accumulators, acc = acc * x + y per f32x4 lane, no memory traffic (x and
 * y come in as arguments, so nothing folds). Each chain waits on a multiply and then an add, so the
 * loop is bound by their latency as much as by the pipes: a lower bound on the peak. The gemm, whose
 * multiplies do not wait on its sums, measured 103-110% of it on a fast spell (48-51 GFLOP/s against
 * 46). (Six multiply and six add chains of one operation each, tried instead, read less: 38-41.)
 *
 * On a virtual machine the two "cores" can be two hardware threads of one physical core, or share one for a spell; then the loop runs at about half speed on
 * each when both run, and no split of a training step over the two can beat that. The two-core probe
 * measures it: the same loop alone, then on both threads at once, round after round.
 */
import { Worker } from "node:worker_threads";
import { wasmSimdSupported } from "../index.js";
import { compiledScript } from "../node/index.js";
import { F32, I32, ModuleBuilder, V128 } from "../tensor/wasm/builder.js";
import { median, timeCalls } from "./timing.js";

type PeakFn = (n: number, x: number, y: number) => number;
let peakFn: PeakFn | null = null;

function buildPeak(): PeakFn {
  const m = new ModuleBuilder();
  m.fn("peak", [I32, F32, F32], [F32], (f) => {
    const i = f.local(I32), x = f.local(V128), y = f.local(V128);
    const acc = Array.from({ length: 12 }, () => f.local(V128));
    f.get(1).simd("f32x4.splat").set(x);
    f.get(2).simd("f32x4.splat").set(y);
    for (const a of acc) f.get(y).set(a);
    f.for(i, () => f.i32(0), () => f.get(0), 1, () => {
      for (const a of acc) f.get(a).get(x).simd("f32x4.mul").get(y).simd("f32x4.add").set(a);
    });
    f.get(acc[0]!);
    for (const a of acc.slice(1)) f.get(a).simd("f32x4.add");
    f.simd("f32x4.extract_lane", 0);
  });
  const memory = new WebAssembly.Memory({ initial: 1 });
  return (new WebAssembly.Instance(new WebAssembly.Module(m.toBytes()), { env: { memory } }).exports as { peak: PeakFn }).peak;
}

/** This core's f32x4 multiply + add rate in GFLOP/s: the median call of the loop over about `ms` (null without SIMD). */
export function simdPeakGflops(ms = 300): number | null {
  if (!wasmSimdSupported()) return null;
  const f = (peakFn ??= buildPeak());
  const iters = 1_000_000; // 96 MFLOP, 2-3 ms
  return (iters * 12 * 4 * 2) / timeCalls(() => void f(iters, 0.999, 0.001), ms) / 1e9;
}

/** One round of the two-core probe: the calling thread alone, then it and a worker at once (GFLOP/s). */
export interface TwoCoreRound {
  alone: number;
  together: [number, number];
}

/** The two-core probe's summary: its rounds and two medians over them (see twoCorePeak). */
export interface TwoCorePeak {
  rounds: TwoCoreRound[];
  /** Median of (both together) / alone: what work shared out dynamically could reach over one thread. */
  sum: number;
  /** Median of 2 x (the slower of the two) / alone: what two fixed halves with a barrier could reach, such as the two shards of a training step. */
  halves: number;
}

/** Runs the peak loop alone and on two threads at once, `rounds` times (null without SIMD). */
export async function twoCorePeak(rounds = 8, ms = 60): Promise<TwoCorePeak | null> {
  if (!wasmSimdSupported()) return null;
  const w = new Worker(compiledScript(new URL("./peak-worker.js", import.meta.url), "cli/peak-worker.js"));
  try {
    const ask = (): Promise<number> =>
      new Promise((res, rej) => {
        w.once("message", res);
        w.once("error", rej);
        w.postMessage(ms);
      });
    await ask(); // the worker's module is compiled and warm
    const out: TwoCoreRound[] = [];
    for (let r = 0; r < rounds; r++) {
      const alone = simdPeakGflops(ms)!;
      const other = ask();
      const mine = simdPeakGflops(ms)!;
      out.push({ alone, together: [mine, await other] });
    }
    return {
      rounds: out,
      sum: median(out.map((r) => (r.together[0] + r.together[1]) / r.alone)),
      halves: median(out.map((r) => (2 * Math.min(...r.together)) / r.alone)),
    };
  } finally {
    await w.terminate();
  }
}
