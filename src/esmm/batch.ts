/**
 * What the model eats. A batch of B impressions holds, column-wise:
 * - `ids`   [B, Fs]  one id per single-valued field, fields in config order;
 * - `bags`  one per multi-valued field: CSR offsets [B + 1] into ids (and optional weights);
 * - `dense` [B, Nd]  raw dense features (the model standardises them);
 * and, for training and evaluation, the labels and optional extras.
 */
export interface Bag {
  offsets: Int32Array;
  ids: Int32Array;
  weights: Float32Array | null;
}

/** A batch of model inputs: `size` rows of single-valued ids (row-major, one per single field), one bag per multi-valued field, and dense values (row-major). */
export interface Batch {
  size: number;
  ids: Int32Array;
  bags: Bag[];
  dense: Float32Array | null;
}

/** A batch with its click and conversion labels (0/1 per row), and the ground truth where the data has it. */
export interface LabeledBatch extends Batch {
  click: Float32Array;
  conversion: Float32Array;
  /** Optional user key per row (for GAUC). */
  user?: Int32Array;
  /** Ground truth from the simulator, when known. */
  truePctr?: Float32Array;
  truePcvr?: Float32Array;
}

/**
 * An in-memory, column-wise dataset of N impressions. `take(order, start, end)` copies the rows
 * order[start..end) into a batch, which is how shuffled minibatches are made.
 */
export class Dataset {
  constructor(
    readonly size: number,
    /** [N, Fs] */
    readonly ids: Int32Array,
    readonly numSingle: number,
    readonly bags: Bag[],
    /** [N, Nd] or null */
    readonly dense: Float32Array | null,
    readonly numDense: number,
    readonly click: Float32Array,
    readonly conversion: Float32Array,
    readonly user?: Int32Array,
    readonly truePctr?: Float32Array,
    readonly truePcvr?: Float32Array,
  ) {
    if (ids.length !== size * numSingle) throw new Error(`Dataset: ${ids.length} ids for ${size} rows x ${numSingle} fields`);
    if (click.length !== size || conversion.length !== size) throw new Error(`Dataset: label columns must have ${size} rows`);
    if (dense && dense.length !== size * numDense) throw new Error(`Dataset: ${dense.length} dense values for ${size} x ${numDense}`);
    for (const b of bags) if (b.offsets.length !== size + 1) throw new Error(`Dataset: bag offsets must have ${size + 1} entries`);
    checkLabels(click, conversion, 0);
  }

  /** Rows `order[start .. end)` as a labelled batch (copied). */
  take(order: ArrayLike<number>, start: number, end: number): LabeledBatch {
    const B = end - start;
    const Fs = this.numSingle;
    const ids = new Int32Array(B * Fs);
    const click = new Float32Array(B);
    const conversion = new Float32Array(B);
    const dense = this.dense ? new Float32Array(B * this.numDense) : null;
    const user = this.user ? new Int32Array(B) : undefined;
    const tp = this.truePctr ? new Float32Array(B) : undefined;
    const tv = this.truePcvr ? new Float32Array(B) : undefined;
    const Nd = this.numDense;
    // plain loops rather than set(subarray(...)) per row: a row holds a few values, and a view per
    // row costs more than copying them
    for (let i = 0; i < B; i++) {
      const r = order[start + i]!;
      for (let f = 0, src = r * Fs, dst = i * Fs; f < Fs; f++) ids[dst + f] = this.ids[src + f]!;
      click[i] = this.click[r]!;
      conversion[i] = this.conversion[r]!;
      if (dense) for (let j = 0, src = r * Nd, dst = i * Nd; j < Nd; j++) dense[dst + j] = this.dense![src + j]!;
      if (user) user[i] = this.user![r]!;
      if (tp) tp[i] = this.truePctr![r]!;
      if (tv) tv[i] = this.truePcvr![r]!;
    }
    const bags = this.bags.map((bag) => {
      const offsets = new Int32Array(B + 1);
      let n = 0;
      for (let i = 0; i < B; i++) {
        const r = order[start + i]!;
        n += bag.offsets[r + 1]! - bag.offsets[r]!;
        offsets[i + 1] = n;
      }
      const bid = new Int32Array(n);
      const bw = bag.weights ? new Float32Array(n) : null;
      for (let i = 0; i < B; i++) {
        const r = order[start + i]!;
        const lo = bag.offsets[r]!;
        const hi = bag.offsets[r + 1]!;
        for (let k = lo, at = offsets[i]!; k < hi; k++, at++) {
          bid[at] = bag.ids[k]!;
          if (bw) bw[at] = bag.weights![k]!;
        }
      }
      return { offsets, ids: bid, weights: bw };
    });
    const out: LabeledBatch = { size: B, ids, bags, dense, click, conversion };
    if (user) out.user = user;
    if (tp) out.truePctr = tp;
    if (tv) out.truePcvr = tv;
    return out;
  }

  /** All rows in order, as one batch. */
  all(): LabeledBatch {
    return this.take(identity(this.size), 0, this.size);
  }
}

/** How many rows are clicked and how many converted (labels 0/1, as checkLabels allows them). */
export function labelCounts(click: ArrayLike<number>, conversion: ArrayLike<number>): { clicks: number; conversions: number } {
  let clicks = 0;
  let conversions = 0;
  for (let i = 0; i < click.length; i++) {
    clicks += click[i]!;
    conversions += conversion[i]!;
  }
  return { clicks, conversions };
}

/** The indices 0 .. n - 1. */
export function identity(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Labels must be 0/1, and a conversion without a click is a data error, not a label. */
export function checkLabels(click: Float32Array, conversion: Float32Array, rowOffset: number): void {
  for (let i = 0; i < click.length; i++) {
    const c = click[i]!;
    const v = conversion[i]!;
    if ((c !== 0 && c !== 1) || (v !== 0 && v !== 1)) throw new Error(`labels: row ${rowOffset + i} has click ${c}, conversion ${v}; both must be 0 or 1`);
    if (v === 1 && c === 0) throw new Error(`labels: row ${rowOffset + i} has a conversion without a click`);
  }
}
