/**
 * Step arenas: reusing the buffers of one training step in the next.
 *
 * A training step allocates the same buffers, of the same sizes, in the same order, every time: each
 * op's output, each intermediate gradient, each backward scratch. Inside `arena.run(fn)`, those
 * allocations (`allocF32`) are served from the buffers the previous run of the same arena handed out,
 * matched by their position in that sequence and refilled with zeros, so a steady-state step asks the
 * engine for no new memory. A fresh large Float32Array costs far more than refilling an old one
 * (`node build/bench/alloc.js`), and the garbage collector never sees the step's buffers.
 *
 * The contract that makes this safe: nothing allocated inside a run is used after the next run
 * starts. The trainer's step (forward, loss, backward, optimiser update, zeroGrad) keeps to it; a
 * caller who keeps a step's outputs must copy them. Gradients of leaves (parameters, inputs) never
 * come from an arena: they live across steps. Outside any run, allocF32 is `new Float32Array(n)`.
 */
import { kernels } from "./kernels/index.js";

/** Returns a dropped arena's buffers to the backend that lent them (see Kernels.alloc). */
const lent = typeof FinalizationRegistry === "function" ? new FinalizationRegistry<Array<() => void>>((releases) => releases.forEach((r) => r())) : null;

/** A step arena: buffers handed out during `run` are taken back when the next `run` starts, so a training loop allocates nothing in its steady state (see the top of this file). */
export class Arena {
  private buffers: Float32Array[] = [];
  /** Releases of the buffers a backend lent (in its own memory, where its kernels use them in place). */
  private readonly releases: Array<() => void> = [];

  constructor() {
    lent?.register(this, this.releases, this);
  }
  private next = 0;
  private active = false;
  /** Buffers handed out by the last run that were new (not reused); 0 in the steady state. */
  fresh = 0;

  /** Runs fn with this arena serving allocF32; runs do not nest within one arena. */
  run<T>(fn: () => T): T {
    if (this.active) throw new Error("Arena.run: this arena is already running");
    const prev = current;
    current = this;
    this.active = true;
    this.next = 0;
    this.fresh = 0;
    try {
      return fn();
    } finally {
      this.active = false;
      current = prev;
    }
  }

  /**
   * A zeroed buffer of n floats (with `fill` false, as it is: see allocUnfilled): the one at this
   * position in the previous run, or a view of its first n floats when it is larger. Sizes that vary
   * from step to step (the distinct ids of a batch) get a quarter of headroom, so they soon stop
   * needing new buffers.
   */
  take(n: number, fill = true): Float32Array {
    const i = this.next++;
    const old = this.buffers[i];
    if (old && old.length >= n) {
      const b = old.length === n ? old : old.subarray(0, n);
      if (fill) kernels.zero(b);
      return b;
    }
    this.fresh++;
    const size = old ? Math.ceil(n * 1.25) : n;
    // a backend that computes in its own memory (wasm) lends the buffer, so kernels need not copy
    const loan = kernels.alloc?.(size) ?? null;
    if (loan) this.releases.push(loan.release);
    const b = loan ? loan.data : new Float32Array(size);
    this.buffers[i] = b;
    return b.length === n ? b : b.subarray(0, n);
  }

  /** Floats held for reuse. */
  get heldFloats(): number {
    let s = 0;
    for (const b of this.buffers) s += b.length;
    return s;
  }

  /** Drops every buffer (the next run allocates afresh), returning lent ones to their backend. */
  clear(): void {
    this.buffers = [];
    this.releases.splice(0).forEach((r) => r());
  }
}

let current: Arena | null = null;

/** n zeroed floats: from the running arena, or new. */
export function allocF32(n: number): Float32Array {
  return current ? current.take(n) : new Float32Array(n);
}

/**
 * n floats that the caller writes in full before it reads any (a product's output, a gathered copy):
 * from the running arena without refilling it with zeros (it holds the last run's values), or new.
 * Refilling every reused buffer took about 3.6% of a training step on the wasm backend, most of it
 * for buffers a kernel then overwrote. Only for kernels that write every element; one that adds
 * into its output (accumulate, reluBackward, mixExperts) needs `allocF32`.
 */
export function allocUnfilled(n: number): Float32Array {
  const b = current ? current.take(n, false) : new Float32Array(n);
  if (poison) b.fill(NaN);
  return b;
}

let poison = false;

/**
 * A check of the ops, for tests: while on, every `allocUnfilled` buffer starts as NaN instead of
 * zeros or the last run's values, so an element that an op forgets to write shows in its result.
 */
export function poisonUnfilled(on: boolean): void {
  poison = on;
}

/** Returns a lent buffer to its backend once nothing refers to the view any more. */
const lasting = typeof FinalizationRegistry === "function" ? new FinalizationRegistry<() => void>((release) => release()) : null;

/**
 * n zeroed floats that live across steps (a parameter, its gradient, an optimiser's moments): from
 * the backend's own memory when it lends some (the wasm backend: its kernels then use them in place),
 * else a plain Float32Array. A lent buffer goes back to the backend when the view is collected, so
 * holding the array keeps it valid.
 */
export function allocLasting(n: number): Float32Array {
  const loan = lasting ? (kernels.alloc?.(n) ?? null) : null;
  if (!loan) return new Float32Array(n);
  lasting!.register(loan.data, loan.release);
  return loan.data;
}
