/**
 * Embedding lookups. A table created with `sparseGrad: true` receives its gradient as row-sparse
 * parts (the ids and the matching rows of dy), so a step never touches the rows a batch did not use;
 * other tables get a dense scatter-add.
 */
import { allocF32, allocUnfilled, fmt, kernels, Tensor } from "../../tensor/index.js";
import { record } from "../engine.js";

/** Throws unless every id indexes a row of a table with V rows; names the op, position and value. */
export function checkIds(op: string, ids: Int32Array, V: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= V) throw new Error(`${op}: id ${id} at position ${i} is out of range for a table of ${V} rows`);
  }
}

/** Converts ids given as numbers to an Int32Array, rejecting non-integers (Int32Array would truncate silently). */
export function toIds(op: string, ids: Int32Array | ArrayLike<number>): Int32Array {
  if (ids instanceof Int32Array) return ids;
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i]!;
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw new Error(`${op}: id at position ${i} is ${v}, not an integer`);
    out[i] = v;
  }
  return out;
}

function checkTable(op: string, table: Tensor): void {
  if (table.rank !== 2) throw new Error(`${op}: table must be [V, D], got ${fmt(table.shape)}`);
}

/**
 * Row lookup: table [V, D], ids [N] -> [N, D],  y[i, :] = table[ids[i], :].
 * backward: dtable[ids[i], :] += dy[i, :]  (repeated ids accumulate).
 */
export function gather(table: Tensor, idsIn: Int32Array | ArrayLike<number>): Tensor {
  checkTable("gather", table);
  const ids = toIds("gather", idsIn);
  const V = table.shape[0]!;
  const D = table.shape[1]!;
  checkIds("gather", ids, V);
  const y = Tensor.empty([ids.length, D]);
  kernels.gatherRows(y.data, table.data, ids, D);
  const saved = ids.slice(); // the caller may reuse its id buffer before backward runs
  return record("gather", y, [table], (dy) => table.addRowGrad(saved, dy.slice()));
}

/**
 * Checks F tables of one width D and ids [B, F] row-major against them, throwing an error that names
 * the op, the row and the field (`fieldName(f)`, by default its index). Returns F, B and D.
 */
export function checkFields(
  op: string,
  tables: readonly Tensor[],
  ids: Int32Array,
  fieldName: (f: number) => string = String,
): { F: number; B: number; D: number } {
  const F = tables.length;
  if (F === 0) throw new Error(`${op}: needs at least one table`);
  const D = tables[0]!.shape[1]!;
  for (const t of tables) {
    checkTable(op, t);
    if (t.shape[1] !== D) throw new Error(`${op}: tables ${fmt(tables[0]!.shape)} and ${fmt(t.shape)} differ in width D`);
  }
  if (ids.length % F !== 0) throw new Error(`${op}: ${ids.length} ids is not a multiple of ${F} fields`);
  const rows = Int32Array.from(tables, (t) => t.shape[0]!); // each field's table size, read once, not per id
  for (let i = 0, f = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id >>> 0 >= rows[f]!) {
      // (an Int32Array's id is an integer; as unsigned, a negative one is past every table)
      throw new Error(`${op}: id ${id} at row ${Math.floor(i / F)}, field ${fieldName(f)} is out of range for a table of ${rows[f]} rows`);
    }
    if (++f === F) f = 0;
  }
  return { F, B: ids.length / F, D };
}

/**
 * The F-field embedding lookup written straight into the model input (one pass, no concat):
 * tables F x [V_f, D], ids [B, F] row-major -> x [B, F*D],  x[b, f*D:(f+1)*D] = tables[f][ids[b, f], :].
 * backward: table f receives dy[b, f*D:(f+1)*D] at row ids[b, f].
 */
export function gatherFields(tables: readonly Tensor[], idsIn: Int32Array | ArrayLike<number>): Tensor {
  const ids = toIds("gatherFields", idsIn);
  const { F, B, D } = checkFields("gatherFields", tables, ids);
  const y = Tensor.unfilled([B, F * D]); // every row's every field is written
  kernels.gatherFields(y.data, tables.map((t) => t.data), ids, B, D);
  const saved = ids.slice();
  return record("gatherFields", y, tables, (dy) => {
    for (let f = 0; f < F; f++) {
      const t = tables[f]!;
      if (!t.needsGrad) continue;
      const rows = new Int32Array(B);
      for (let b = 0; b < B; b++) rows[b] = saved[b * F + f]!;
      const vals = allocUnfilled(B * D);
      kernels.fieldColumn(vals, dy, B, F, f, D);
      t.addRowGrad(rows, vals);
    }
  });
}

/** How a bag of ids is pooled into one row: the weighted sum, or the weighted mean (an empty bag gives zeros either way). */
export type BagMode = "sum" | "mean";

/**
 * Pools a bag of ids per row (a multi-valued field, e.g. the apps a user installed last week):
 * table [V, D]; bag b holds ids[offsets[b] .. offsets[b+1]) with optional weights w.
 *   sum:  y[b, :] = sum_i w_i * table[ids_i, :]
 *   mean: y[b, :] = (1 / n_b) * sum_i w_i * table[ids_i, :]   (an empty bag gives zeros)
 * offsets has B + 1 entries, starts at 0, never decreases and ends at ids.length.
 * backward: dtable[ids_i, :] += w_i * dy[b, :] (/ n_b for mean).
 */
export function embeddingBag(
  table: Tensor,
  offsets: Int32Array,
  idsIn: Int32Array | ArrayLike<number>,
  weights: Float32Array | null = null,
  mode: BagMode = "sum",
): Tensor {
  checkTable("embeddingBag", table);
  const ids = toIds("embeddingBag", idsIn);
  const V = table.shape[0]!;
  const D = table.shape[1]!;
  checkIds("embeddingBag", ids, V);
  const B = offsets.length - 1;
  if (B < 0 || offsets[0] !== 0 || offsets[B] !== ids.length) {
    throw new Error(`embeddingBag: offsets must start at 0 and end at ${ids.length} (the number of ids)`);
  }
  for (let b = 0; b < B; b++) {
    if (offsets[b + 1]! < offsets[b]!) throw new Error(`embeddingBag: offsets decrease at bag ${b}`);
  }
  if (weights && weights.length !== ids.length) {
    throw new Error(`embeddingBag: ${weights.length} weights for ${ids.length} ids`);
  }
  // Effective coefficient of each id: its weight, divided by the bag size for mean pooling.
  const coef = allocF32(ids.length);
  for (let b = 0; b < B; b++) {
    const lo = offsets[b]!;
    const hi = offsets[b + 1]!;
    const scale = mode === "mean" && hi > lo ? 1 / (hi - lo) : 1;
    for (let i = lo; i < hi; i++) coef[i] = (weights ? weights[i]! : 1) * scale;
  }
  const y = Tensor.empty([B, D]);
  kernels.bagForward(y.data, table.data, ids, offsets, coef, D);
  const savedIds = ids.slice();
  const savedOffsets = offsets.slice();
  return record("embeddingBag", y, [table], (dy) => {
    const vals = allocF32(savedIds.length * D);
    kernels.bagBackward(vals, dy, savedOffsets, coef, D);
    table.addRowGrad(savedIds, vals);
  });
}
