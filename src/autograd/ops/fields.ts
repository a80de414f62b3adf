/**
 * The first layer of an embedding model, computed once per distinct id instead of once per row.
 *
 * The model input is x = [E_0[ids[:, 0]] | ... | E_{F-1}[ids[:, F-1]] | others]   [B, F*D + R]
 * (F single-valued fields of width D, then R further columns: pooled bags, dense features), and every
 * layer that reads x is affine: z = x @ W^T + b. Cut W by columns into one block per field, W_f [O, D],
 * and W_others [O, R]:
 *
 *     z[b] = sum_f E_f[ids[b, f]] @ W_f^T  +  others[b] @ W_others^T  +  b
 *
 * E_f[v] @ W_f^T depends on the id v alone, and a batch of recommendation traffic repeats ids a lot
 * (popular items, fields with a handful of values such as hour or gender). So for such a field take
 * the u_f distinct ids of the batch, U_f = their rows of E_f [u_f, D], and
 *
 *     P_f = U_f @ W_f^T   [u_f, O]         z[b] += P_f[slot_f(b)]          (slot_f(b): which distinct id)
 *
 * The backward is the same algebra transposed, with dz summed per distinct id first:
 *
 *     S_f[s] = sum over b with slot_f(b) = s of dz[b]   [u_f, O]
 *     dW_f += S_f^T @ U_f        dE_f[distinct ids] += S_f @ W_f
 *
 * Each of the three products costs u_f / B of its dense twin, plus one pass over [B, O] to spread P_f
 * (forward) or collect S_f (backward). That pass is not free (a row of O floats read per row), so a
 * field whose ids are mostly distinct is cheaper the plain way. `fieldInput` decides per field, once
 * per batch: fields with at most PER_ID_MAX_DISTINCT * B distinct ids stay (table, ids) pairs; the
 * others are gathered into place (the ordinary `gatherFields` op) in front of the remaining columns,
 * and `fieldsLinear` multiplies that block the ordinary way. Nothing is approximated: the result is
 * x @ W^T + b up to float rounding (sums are taken in another order), which test/fields.test.ts checks
 * against `linear` over a materialised x.
 */
import { FirstAppearance, allocF32, allocUnfilled, fmt, gemmIntoGrad, kernels, Tensor } from "../../tensor/index.js";
import { isGradEnabled, record } from "../engine.js";
import { concat } from "./shape.js";
import { checkFields, gatherFields } from "./embedding.js";

/**
 * A field is computed per id when at most this fraction of the batch's rows have distinct ids (with
 * the ts kernels; a kernel set may set its own `perIdMaxDistinct`, as the break-even moves with the
 * gemm's speed against the spread's). Measured with `npm run bench` (the per-id / dense ratio, both
 * in one process, steps interleaved): with the ts kernels per id is about 1.15x faster at 0.53
 * distinct (10,000 rows per field) and 0.9x at 0.68 (262,144).
 */
export const PER_ID_MAX_DISTINCT = 0.6;

/**
 * When no graph is recorded (inference), a field goes per id when its table has at most this many
 * rows, whatever the batch: a fixed rule of the model, so that a row's scores depend on its own ids
 * only (dense products give every row the same result in any batch, and so do per-id ones; a rule
 * that looked at the batch would not). Small tables (positions, hours, categories, a few thousand
 * apps) repeat in any batch and are cheap per id; the largest (users) are mostly distinct and cheaper
 * dense. Measured (docs/results.md, interleaved runs): on the bench workload (24 fields of 10,000
 * rows, all dense by this rule) inference ran 1.07-1.43x faster than with every field per id; on the
 * simulator's traffic (only its 20,000 users dense) within 5% of every field per id. A rule read off
 * the traffic the model was trained on would fit other data better; this one needs no state.
 */
export const PER_ID_INFER_MAX_ROWS = 4096;

/**
 * One per-id field: its table, its column in x, its distinct ids, each row's index among them, and the
 * distinct ids' embedding rows [u, D], gathered once for every layer that reads the input (a gather
 * from a large table is a cache miss per row).
 */
export interface PerIdField {
  readonly table: Tensor;
  readonly column: number;
  readonly uniq: Int32Array;
  readonly rowSlot: Int32Array;
  readonly rows: Float32Array;
  /**
   * The batch's rows grouped by distinct id, for the backward pass (rows[first[s] .. first[s + 1])
   * have id uniq[s]); every layer reading the input needs the same grouping, so the first to need it
   * makes it here (see groupsOf).
   */
  groups?: { first: Int32Array; rows: Int32Array };
}

/**
 * A model input [B, width] given by parts: per-id fields, and every other column of x, in order, as
 * one tensor (null if there are none). Built by `fieldInput`; layers that read the input accept it in
 * place of a Tensor (see Linear.forward).
 */
export interface FieldInput {
  readonly rows: number;
  readonly width: number;
  readonly perId: readonly PerIdField[];
  readonly others: Tensor | null;
  /** The [start, width] column segments of x that `others` holds, in order. */
  readonly otherColumns: ReadonlyArray<readonly [number, number]>;
  /** How each row's per-id products are summed, made by the first layer to need it (see bagsOf). */
  bags?: PerIdBags;
}

/**
 * The per-id fields' products P_f one after another in one array: P_f's rows begin at start[j]; row
 * r of z sums the rows bagRows[offsets[r] .. offsets[r + 1]) (one per field). The same for every
 * layer reading one input, so it is made once per input.
 */
interface PerIdBags {
  start: Int32Array;
  offsets: Int32Array;
  bagRows: Int32Array;
}

const firstSeen = new FirstAppearance();

/** The distinct ids of column f of ids [B, F], in order of first appearance, and for each row the index of its id among them. */
function distinct(ids: Int32Array, F: number, f: number, B: number, V: number): { uniq: Int32Array; rowSlot: Int32Array } {
  const rowSlot = new Int32Array(B);
  firstSeen.begin(V);
  for (let b = 0, i = f; b < B; b++, i += F) rowSlot[b] = firstSeen.index(ids[i]!);
  return { uniq: firstSeen.end(), rowSlot };
}

/**
 * The input x = [tables[f][ids[:, f]] for each f | ...after] by parts, for `fieldsLinear`: fields that
 * repeat ids enough (see PER_ID_MAX_DISTINCT) stay per id, the others are gathered with `gatherFields`
 * and joined with `after` (pooled bags, dense features: [B, *] tensors) into `others`.
 * ids [B, F] row-major, checked against each table. `perIdMaxDistinct` overrides the threshold
 * (0: nothing per id, 1: everything).
 *
 * When no graph is being recorded (inference), which fields go per id is fixed by their tables' sizes
 * instead (PER_ID_INFER_MAX_ROWS). Which way a field goes changes the float rounding of a row's
 * result; a split decided by the batch would make a row's scores depend on the rows that share its
 * batch, and this one does not.
 */
export function fieldInput(
  tables: readonly Tensor[],
  ids: Int32Array,
  after: readonly Tensor[] = [],
  perIdMaxDistinct?: number,
): FieldInput {
  const byTable = perIdMaxDistinct === undefined && !isGradEnabled();
  const maxDistinct = perIdMaxDistinct ?? kernels.perIdMaxDistinct ?? PER_ID_MAX_DISTINCT;
  const { F, B, D } = checkFields("fieldInput", tables, ids);
  let width = F * D;
  for (const a of after) {
    if (a.rank !== 2 || a.shape[0] !== B) throw new Error(`fieldInput: ${fmt(a.shape)} does not have the ${B} rows of the ids`);
    width += a.shape[1]!;
  }
  const saved = ids.slice(); // the caller may reuse its id buffer before backward runs
  const perId: PerIdField[] = [];
  const gathered: number[] = [];
  for (let f = 0; f < F; f++) {
    const V = tables[f]!.shape[0]!;
    if (byTable && V > PER_ID_INFER_MAX_ROWS) {
      gathered.push(f);
      continue;
    }
    const d = distinct(saved, F, f, B, V);
    if (byTable || d.uniq.length <= maxDistinct * B) {
      const rows = allocF32(d.uniq.length * D);
      kernels.gatherRows(rows, tables[f]!.data, d.uniq, D);
      perId.push({ table: tables[f]!, column: f * D, ...d, rows });
    }
    else gathered.push(f);
  }
  const parts: Tensor[] = [];
  const otherColumns: Array<[number, number]> = [];
  if (gathered.length > 0) {
    const sub = new Int32Array(B * gathered.length);
    for (let r = 0; r < B; r++) gathered.forEach((f, j) => (sub[r * gathered.length + j] = saved[r * F + f]!));
    parts.push(gatherFields(gathered.map((f) => tables[f]!), sub));
    for (const f of gathered) otherColumns.push([f * D, D]);
  }
  parts.push(...after);
  if (after.length > 0) otherColumns.push([F * D, width - F * D]);
  const others = parts.length === 0 ? null : parts.length === 1 ? parts[0]! : concat(parts, 1);
  return { rows: B, width, perId, others, otherColumns: mergeSegments(otherColumns) };
}

/** Joins adjacent [start, width] segments. */
function mergeSegments(segs: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [s, w] of segs) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === s) last[1] += w;
    else out.push([s, w]);
  }
  return out;
}

/**
 * A buffer for values that live within one call (grown on demand, reused); anything the backward
 * pass needs comes from allocF32 instead, so a step arena can recycle it. Where the backend computes
 * in memory of its own (wasm), the buffer is lent from there, so its kernels use it without copying.
 */
class Scratch {
  private loan: { data: Float32Array; release: (() => void) | null } | null = null;

  /** n floats, valid until the next call. */
  take(n: number): Float32Array {
    const have = this.loan;
    if (!have || have.data.length < n) {
      have?.release?.();
      const size = have ? Math.ceil(n * 1.25) : n;
      this.loan = kernels.alloc?.(size) ?? { data: new Float32Array(size), release: null };
    }
    return this.loan!.data.subarray(0, n);
  }
}

/** A block of w: the other columns' [O, K] or one field's [O, D] (and the same shapes of dW). */
const weightBlock = new Scratch();
/** The per-id products P_f of every field, one after another (forward), or S_f (backward). */
const perIdProducts = new Scratch();


/** The input's per-id bags (see PerIdBags), made once and kept on the input. */
function bagsOf(input: FieldInput): PerIdBags {
  if (input.bags) return input.bags;
  const { perId, rows: B } = input;
  const P = perId.length;
  const start = new Int32Array(P + 1);
  perId.forEach((p, j) => (start[j + 1] = start[j]! + p.uniq.length));
  const offsets = new Int32Array(B + 1);
  for (let r = 0; r <= B; r++) offsets[r] = r * P;
  const bagRows = new Int32Array(B * P);
  perId.forEach((p, j) => {
    for (let r = 0; r < B; r++) bagRows[r * P + j] = start[j]! + p.rowSlot[r]!;
  });
  input.bags = { start, offsets, bagRows };
  return input.bags;
}

/** The field's rows grouped by distinct id (a counting sort), made once and kept on the field. */
function groupsOf(p: PerIdField): { first: Int32Array; rows: Int32Array } {
  if (p.groups) return p.groups;
  const first = new Int32Array(p.uniq.length + 1);
  const rows = new Int32Array(p.rowSlot.length);
  kernels.groupBySlot(first, rows, p.rowSlot, p.uniq.length);
  p.groups = { first, rows };
  return p.groups;
}

/**
 * z = x @ w^T + b for the input x that `input` stands for, with `relu` also ReLU (as `linear(x, w, b, true)`):
 * w [O, width], b [O] -> [B, O]. The other columns go through one ordinary product; each per-id field
 * through its distinct ids (see the top of this file).
 * backward: per-id tables receive one row-sparse gradient row per distinct id; others, w and b as `linear`.
 */
export function fieldsLinear(input: FieldInput, w: Tensor, b: Tensor | null = null, relu = false): Tensor {
  const { rows: B, width: I, perId, others, otherColumns } = input;
  if (w.rank !== 2 || w.shape[1] !== I) throw new Error(`fieldsLinear: weight ${fmt(w.shape)} does not match an input of ${I} columns (need [O, ${I}])`);
  const O = w.shape[0]!;
  if (b && (b.rank !== 1 || b.shape[0] !== O)) throw new Error(`fieldsLinear: bias ${fmt(b.shape)} does not match weight ${fmt(w.shape)}`);
  const K = others ? others.shape[1]! : 0;
  const D = perId.length > 0 ? perId[0]!.table.shape[1]! : 0;
  /** Copies (or adds) between w-shaped [O, I] and the [O, K] block of the other columns. */
  const otherBlock = (block: Float32Array, wLike: Float32Array, toBlock: boolean): void => {
    let k = 0;
    for (const [s, width] of otherColumns) {
      if (toBlock) kernels.copyColumns(block, K, k, wLike, I, s, width, O, false);
      else kernels.copyColumns(wLike, I, s, block, K, k, width, O, true);
      k += width;
    }
  };

  // When `others` holds every column (no field went per id), W_others is w itself: no copies.
  const whole = K === I;
  // with the other columns, gemm writes every element of y first; without them it is a sum from zero
  const y = others ? Tensor.unfilled([B, O]) : Tensor.empty([B, O]);
  const P = perId.length;
  if (others) {
    // bias (and, with no per-id fields to add after it, ReLU) as the product is stored
    const Wo = whole ? w.data : weightBlock.take(O * K);
    if (!whole) otherBlock(Wo, w.data, true);
    kernels.gemm(y.data, others.data, Wo, B, O, K, { transB: true, bias: b ? b.data : null, relu: relu && P === 0 });
  } else if (b) {
    kernels.addRowVector(y.data, y.data, b.data, B, O);
  }
  // Per-id fields: every P_f one after another in `prods` (P_f from row start[j]), then for each row of
  // z the sum of its rows of P (a bag of perId.length rows).
  if (P > 0) {
    const { start, offsets, bagRows } = bagsOf(input);
    const prods = perIdProducts.take(O * start[P]!);
    const wf = weightBlock.take(O * D);
    perId.forEach((p, j) => {
      kernels.copyColumns(wf, D, 0, w.data, I, p.column, D, O, false);
      kernels.gemm(prods.subarray(O * start[j]!, O * start[j + 1]!), p.rows, wf, p.uniq.length, O, D, { transB: true });
    });
    kernels.sumRowBags(y.data, prods, offsets, bagRows, O, true, relu); // ReLU as it stores
  } else if (relu && !others) {
    kernels.relu(y.data, y.data, B * O);
  }

  const inputs: Tensor[] = perId.map((p) => p.table);
  if (others) inputs.push(others);
  inputs.push(w);
  if (b) inputs.push(b);
  return record("fieldsLinear", y, inputs, (dy) => {
    let dz: Float32Array = dy;
    if (relu) {
      dz = allocF32(B * O);
      kernels.reluBackward(dz, dy, y.data, B * O);
    }
    if (b && b.needsGrad) kernels.sumRowsInto(b.gradBuffer(), dz, B, O);
    if (others) {
      if (w.needsGrad) {
        // dW_others = dz^T @ others
        if (whole) kernels.gemm(w.gradBuffer(), dz, others.data, O, K, B, { transA: true, accumulate: true });
        else {
          const dWo = weightBlock.take(O * K);
          kernels.gemm(dWo, dz, others.data, O, K, B, { transA: true });
          otherBlock(dWo, w.gradBuffer(), false);
        }
      }
      if (others.needsGrad) {
        const Wo = whole ? w.data : weightBlock.take(O * K);
        if (!whole) otherBlock(Wo, w.data, true);
        gemmIntoGrad(others, dz, Wo, B, K, O); // d others += dz @ W_others
      }
    }
    for (const p of perId) {
      const t = p.table;
      if (!t.needsGrad && !w.needsGrad) continue;
      const u = p.uniq.length;
      // S_f: dz summed per distinct id, the rows grouped by id first (a counting sort).
      const byId = groupsOf(p);
      const S = perIdProducts.take(u * O);
      kernels.sumRowBags(S, dz, byId.first, byId.rows, O, false, false);
      const blk = weightBlock.take(O * D);
      if (w.needsGrad) {
        kernels.gemm(blk, S, p.rows, O, D, u, { transA: true }); // dW_f = S_f^T @ U_f   [O, D]
        kernels.copyColumns(w.gradBuffer(), I, p.column, blk, D, 0, D, O, true);
      }
      if (t.needsGrad) {
        kernels.copyColumns(blk, D, 0, w.data, I, p.column, D, O, false);
        const dU = allocUnfilled(u * D); // kept by the table as its row-sparse gradient part
        kernels.gemm(dU, S, blk, u, D, O); // dE_f[uniq] = S_f @ W_f   [u, D]
        t.addRowGrad(p.uniq, dU);
      }
    }
  });
}
