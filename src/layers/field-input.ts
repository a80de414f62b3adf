/**
 * The model input as a layer: one embedding table per categorical field, and the input row
 *   x = [single-valued fields' embeddings | pooled bags | standardised dense features]   [B, F*D + Nd]
 * built in one of two ways:
 * - `embed(batch)`: x itself, single fields gathered straight into place (`gatherFields`);
 * - `input(batch, "per-id")`: x by parts, a FieldInput (src/autograd/ops/fields.ts) that the layers
 *   reading x (Linear.forward) multiply once per distinct id of each field instead of once per row.
 * Both describe the same x; the per-id way changes only the speed (and float rounding).
 */
import { Rng, Tensor, allocF32, firstNonFinite } from "../tensor/index.js";
import { checkFields, concat, fieldInput, gatherFields, type BagMode, type FieldInput } from "../autograd/index.js";
import { Embedding, type EmbeddingInit } from "./embedding.js";
import { Module, prefixed, type NamedParameters } from "./module.js";

/**
 * A row of the input that the network cannot take: a dense value that is not finite once
 * standardised, or a bag that pools to NaN or infinity (a weight near float32's limit times an
 * embedding row). `row` counts from the start of the batch; scoring that streams batches
 * (`orderedScoring`) moves it to count from the start of the stream (`shifted`), so that an app's
 * error can name its record and `esmm predict`'s its data row.
 */
export class InputRowError extends Error {
  constructor(
    readonly where: string,
    readonly row: number,
    readonly reason: string,
  ) {
    super(`${where}: row ${row}: ${reason}`);
    this.name = "InputRowError";
  }

  /** The same error for a batch that starts `offset` rows into a stream. */
  shifted(offset: number): InputRowError {
    return new InputRowError(this.where, this.row + offset, this.reason);
  }
}

/** A categorical field of the input: single-valued (one id per row) or a bag pooled by `pooling`. */
export interface InputField {
  name: string;
  vocab: number;
  kind?: "single" | "multi";
  pooling?: BagMode;
}

/** The ids, bags and dense values of a batch, as the input layer reads them (see esmm's Batch). */
export interface InputBatch {
  size: number;
  /** [size, single-valued fields] row-major. */
  ids: Int32Array;
  /** One per multi-valued field, in field order. */
  bags: ReadonlyArray<{ offsets: Int32Array; ids: Int32Array; weights: Float32Array | null }>;
  /** [size, dense features] row-major, or null without dense features. */
  dense: Float32Array | null;
}

/** Options of a `FieldEmbeddings`: the seeded generator and initialisation of its tables, the dense features, and the name its errors carry. */
export interface FieldInputOptions {
  rng: Rng;
  /** How the tables are drawn; null leaves them at zero (see EmbeddingOptions). */
  init?: EmbeddingInit | null;
  /** Names, means and standard deviations of the dense features (standardised as x = (v - mean) / std). */
  dense?: { names: readonly string[]; mean: readonly number[]; std: readonly number[] };
  /** The name errors are reported under (default "input"). */
  label?: string;
}

/** How the layers reading the input compute their product (see Esmm.firstLayer). */
export type FirstLayer = "per-id" | "dense";

/** The embedding tables of a model's fields and the input row built from them (see the top of this file). */
export class FieldEmbeddings extends Module {
  readonly tables: Embedding[];
  private readonly single: number[];
  private readonly multi: number[];
  private readonly dense: NonNullable<FieldInputOptions["dense"]>;
  private readonly label: string;

  constructor(readonly fields: readonly InputField[], readonly dim: number, opts: FieldInputOptions) {
    super();
    this.tables = fields.map((f) => new Embedding(f.vocab, dim, { rng: opts.rng, ...(opts.init !== undefined ? { init: opts.init } : {}) }));
    this.single = fields.flatMap((f, i) => ((f.kind ?? "single") === "single" ? [i] : []));
    this.multi = fields.flatMap((f, i) => (f.kind === "multi" ? [i] : []));
    this.dense = opts.dense ?? { names: [], mean: [], std: [] };
    this.label = opts.label ?? "input";
  }

  /** Whether a batch can be given as plain ids [B, F] (every field single-valued, no dense features). */
  get idsOnly(): boolean {
    return this.multi.length === 0 && this.dense.names.length === 0;
  }

  /** Each field's table, as `<field>.weight`. */
  namedParameters(): NamedParameters {
    return this.fields.flatMap((f, i) => prefixed(f.name, this.tables[i]!.namedParameters()));
  }

  /** x [B, F*D + Nd], materialised. */
  embed(batch: InputBatch): Tensor {
    const { single, rest } = this.parts(batch);
    const parts = single ? [gatherFields(single.tables, single.ids), ...rest] : rest;
    // field order in x: single fields first, then bags, then dense (not config order); the layout is
    // fixed by the fields, so checkpoints stay consistent
    return parts.length === 1 ? parts[0]! : concat(parts, 1);
  }

  /** x as `how` wants it: by parts for "per-id" (when there are single fields), else materialised. */
  input(batch: InputBatch, how: FirstLayer = "per-id"): Tensor | FieldInput {
    if (how === "dense") return this.embed(batch);
    const { single, rest } = this.parts(batch);
    if (!single) return rest.length === 1 ? rest[0]! : concat(rest, 1);
    return fieldInput(single.tables, single.ids, rest);
  }

  /** The single-valued fields' tables and ids (checked), and the other columns of x: pooled bags, then dense. */
  private parts(batch: InputBatch): { single: { tables: Tensor[]; ids: Int32Array } | null; rest: Tensor[] } {
    const at = this.label;
    checkBatchShape(at, batch);
    const B = batch.size;
    const Fs = this.single.length;
    if (batch.ids.length !== B * Fs) throw new Error(`${at}: ids has ${batch.ids.length} entries, expected ${B} rows x ${Fs} single-valued fields`);
    if (batch.bags.length !== this.multi.length) throw new Error(`${at}: ${batch.bags.length} bags, expected ${this.multi.length} multi-valued fields`);
    let single: { tables: Tensor[]; ids: Int32Array } | null = null;
    if (Fs > 0) {
      const tables = this.single.map((i) => this.tables[i]!.weight);
      // checked here to name the field; the op that reads them checks again, by index
      checkFields(at, tables, batch.ids, (f) => this.fields[this.single[f]!]!.name);
      single = { tables, ids: batch.ids };
    }
    const rest: Tensor[] = this.multi.map((fi, k) => {
      const bag = batch.bags[k]!;
      const pooled = this.tables[fi]!.bag(bag.offsets, bag.ids, bag.weights, this.fields[fi]!.pooling ?? "mean");
      // a weight near float32's limit (3e38 is one) times an embedding row can overflow: named here,
      // where the field is known, rather than as a NaN score or a diverged step further on
      const bad = firstNonFinite(pooled.data);
      if (bad) throw new InputRowError(at, Math.floor(bad.index / this.dim), `bag "${this.fields[fi]!.name}" pools to NaN or infinity (its weights times its embedding rows overflow float32); ${bad.count} such value(s) in the batch`);
      return pooled;
    });
    const { names, mean, std } = this.dense;
    const Nd = names.length;
    if (Nd > 0) {
      if (!batch.dense || batch.dense.length !== B * Nd) throw new Error(`${at}: expected ${B} x ${Nd} dense values`);
      const d = allocF32(B * Nd);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < Nd; j++) d[b * Nd + j] = (batch.dense[b * Nd + j]! - mean[j]!) / std[j]!;
      }
      const bad = firstNonFinite(d);
      if (bad) throw new InputRowError(at, Math.floor(bad.index / Nd), `dense feature "${names[bad.index % Nd]}" is NaN or infinite (or overflows float32 once standardised); ${bad.count} such value(s) in the batch`);
      rest.push(new Tensor(d, [B, Nd]));
    }
    return { single, rest };
  }
}

/** What a value is, for an error message: its constructor's name, or its type. */
function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name ?? "an object";
}

/**
 * A batch as the code that reads it assumes (JavaScript callers can pass anything): size a whole
 * number, ids an Int32Array, bags an array, dense a Float32Array or null. Otherwise a clear error
 * instead of a TypeError deep inside an op.
 */
function checkBatchShape(at: string, batch: InputBatch): void {
  const b = batch as unknown as Record<string, unknown> | null;
  if (!b || typeof b !== "object" || Array.isArray(b) || ArrayBuffer.isView(b)) throw new Error(`${at}: expected a batch ({ size, ids: Int32Array, bags, dense }) or an Int32Array of ids, got ${kindOf(b)}`);
  if (typeof b.size !== "number" || !Number.isInteger(b.size) || b.size < 0) throw new Error(`${at}: batch.size must be a whole number of rows, got ${kindOf(b.size) === "number" ? String(b.size) : kindOf(b.size)}`);
  if (!(b.ids instanceof Int32Array)) throw new Error(`${at}: batch.ids must be an Int32Array, got ${kindOf(b.ids)}`);
  if (!Array.isArray(b.bags)) throw new Error(`${at}: batch.bags must be an array (one bag per multi-valued field), got ${kindOf(b.bags)}`);
  if (b.dense !== null && b.dense !== undefined && !(b.dense instanceof Float32Array)) throw new Error(`${at}: batch.dense must be a Float32Array or null, got ${kindOf(b.dense)}`);
}
