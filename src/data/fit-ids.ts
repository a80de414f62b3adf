/**
 * Vocabularies fitted on data that already holds integer ids, as the simulator's datasets do.
 *
 * The simulator knows every user and app of its world, so a model built from `sim.fieldSpecs()` has
 * an embedding row for each, trained or not: an id that never appears in the training rows keeps its
 * random initial row, and the test set scores it with that. A model trained from a file cannot do
 * that; `esmm train` keeps the ids its training file holds (at least `minCount` times) and every
 * other id reads the out-of-vocabulary row 0. `IdVocabulary` gives simulated data that second form:
 * it fits the same `VocabBuilder` on the ids' decimal text, so an id gets the row it would get from
 * the CSV file `esmm generate` writes, and rewrites datasets and batches through the tables.
 * Browser-safe: no files here.
 */
import { Dataset, type Bag, type Batch, type FieldSpec } from "../esmm/index.js";
import { VocabBuilder, type RawRow, type Schema } from "./schema.js";

/** Per-field vocabularies fitted on integer ids (`fit`), and datasets and batches rewritten through them (`dataset`, `batch`). */
export class IdVocabulary {
  private constructor(
    /** The fields as the model sees them: each one's table is its kept ids plus the out-of-vocabulary row. */
    readonly fields: FieldSpec[],
    /** Per field (single-valued ones, then bags, as in a Batch), id in the data -> row of the fitted table. */
    private readonly tables: Int32Array[],
  ) {}

  /**
   * Fits one vocabulary per field on `ds`, as `esmm train` fits one on a file: the ids seen at
   * least `minCount` times (default 1), ordered by count and then by text; `fields` gives each
   * field's name and how many ids the data may hold (its `vocab`).
   */
  static fit(ds: Dataset, fields: readonly FieldSpec[], opts: { minCount?: number } = {}): IdVocabulary {
    const singles = fields.filter((f) => f.kind !== "multi");
    const multis = fields.filter((f) => f.kind === "multi");
    if (singles.length !== ds.numSingle || multis.length !== ds.bags.length) throw new Error(`IdVocabulary.fit: ${singles.length} single and ${multis.length} multi fields for data of ${ds.numSingle} and ${ds.bags.length}`);
    const schema: Schema = {
      click: "click",
      conversion: "conversion",
      categorical: singles.map((f) => f.name),
      multi: multis.map((f) => ({ name: f.name, ...(f.pooling ? { pooling: f.pooling } : {}) })),
      dense: [],
      user: null,
      truePctr: null,
      truePcvr: null,
    };
    const vb = new VocabBuilder(schema);
    const Fs = ds.numSingle;
    const row: RawRow = { singles: new Array<string>(Fs), multis: ds.bags.map(() => ({ tokens: [], weights: null })), dense: [], click: 0, conversion: 0, user: null, truePctr: null, truePcvr: null };
    for (let r = 0; r < ds.size; r++) {
      for (let f = 0; f < Fs; f++) row.singles[f] = String(ds.ids[r * Fs + f]);
      ds.bags.forEach((b, k) => (row.multis[k]!.tokens = Array.from(b.ids.subarray(b.offsets[r]!, b.offsets[r + 1]!), String)));
      vb.add(row);
    }
    const pre = vb.finish({ minCount: opts.minCount ?? 1 });
    const ordered = [...singles, ...multis];
    const tables = ordered.map((f, i) => Int32Array.from({ length: f.vocab }, (_, id) => pre.maps[i]!.id(String(id))));
    return new IdVocabulary(
      ordered.map((f, i) => ({ ...f, vocab: pre.maps[i]!.size })),
      tables,
    );
  }

  /** Rows of the fitted tables for `batch`'s ids, as a new batch (labels and the rest shared, not copied). */
  batch<B extends Batch>(batch: B): B {
    const Fs = batch.size > 0 ? batch.ids.length / batch.size : 0;
    const ids = new Int32Array(batch.ids.length);
    for (let i = 0; i < ids.length; i++) ids[i] = this.lookup(i % Fs, batch.ids[i]!);
    const bags: Bag[] = batch.bags.map((b, k) => ({ ...b, ids: Int32Array.from(b.ids, (id) => this.lookup(Fs + k, id)) }));
    return { ...batch, ids, bags };
  }

  /** `ds` with its ids rewritten to the fitted tables' rows (labels, dense values and the truth shared). */
  dataset(ds: Dataset): Dataset {
    const b = this.batch({ size: ds.size, ids: ds.ids, bags: ds.bags, dense: ds.dense });
    return new Dataset(ds.size, b.ids, ds.numSingle, b.bags, ds.dense, ds.numDense, ds.click, ds.conversion, ds.user, ds.truePctr, ds.truePcvr);
  }

  private lookup(field: number, id: number): number {
    const t = this.tables[field]!;
    if (!Number.isInteger(id) || id < 0 || id >= t.length) throw new Error(`IdVocabulary: field ${this.fields[field]!.name} has ids 0..${t.length - 1}, got ${id}`);
    return t[id]!;
  }
}
