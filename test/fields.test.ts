/**
 * The per-id first layer (src/autograd/ops/fields.ts) against its definition: `linear` over the
 * materialised input [gatherFields(tables, ids) | rest]. Same values and gradients up to float
 * rounding, for the op alone and for the whole model, plus its errors.
 */
import { describe, expect, it } from "vitest";
import { Adam, AppStoreSimulator, DENSE_FEATURES, Esmm, PER_ID_INFER_MAX_ROWS, Rng, Tensor, concat, denseGrad, fieldInput, fieldsLinear, gatherFields, linear, mul, noGrad, sum, train } from "../src/index.js";
import { expectAllClose, randn } from "./helpers.js";

const D = 5; // not a multiple of the 4-wide tiles
const B = 50;
// From "every id repeats" to "none does": with B = 50 rows, the fields of 3 and 10 rows go per id
// under the default threshold, the field of 1000 rows (all its ids distinct) is gathered.
const MIXED = [3, 10, 50, 1000];

function tables(seed: number, vocabs = MIXED): Tensor[] {
  return vocabs.map((V, f) => new Tensor(randn([V, D], seed + f).data, [V, D], { requiresGrad: true, sparseGrad: f % 2 === 0 }));
}

function idsFor(seed: number, vocabs = MIXED, rows = B): Int32Array {
  const ids = new Int32Array(rows * vocabs.length);
  for (let i = 0; i < ids.length; i++) ids[i] = (i * 7919 + seed * 104729 + ((i * i) % 13)) % vocabs[i % vocabs.length]!;
  return ids;
}

/** Forward value and every input's gradient (of sum(y * c), c fixed), the first layer computed by `f`. */
function valueAndGrads(f: (ts: Tensor[], ids: Int32Array, rest: Tensor | null, w: Tensor, b: Tensor) => Tensor, withRest: boolean): Float32Array[] {
  const ts = tables(1);
  const rest = withRest ? randn([B, 3], 10) : null;
  const w = randn([7, MIXED.length * D + (withRest ? 3 : 0)], 11, 0.3);
  const b = randn([7], 12);
  const y = f(ts, idsFor(1), rest, w, b);
  // weight the output by a fixed c so every row and column carries a different gradient
  const c = randn([B, 7], 13);
  c.requiresGrad = false;
  sum(mul(y, c)).backward();
  return [y.data.slice(), ...ts.map((t) => denseGrad(t)), ...(rest ? [denseGrad(rest)] : []), denseGrad(w), denseGrad(b)];
}

const materialised = (relu: boolean) => (ts: Tensor[], ids: Int32Array, rest: Tensor | null, w: Tensor, b: Tensor): Tensor => {
  const parts = [gatherFields(ts, ids), ...(rest ? [rest] : [])];
  const x = parts.length === 1 ? parts[0]! : concat(parts, 1);
  return linear(x, w, b, relu);
};

describe("fieldsLinear", () => {
  // threshold 0: every field gathered; default: mixed; 1: every field per id
  for (const threshold of [0, 0.6, 1]) for (const withRest of [false, true]) for (const relu of [false, true]) {
    it(`equals linear over the materialised input (per-id threshold ${threshold}, rest: ${withRest}, relu: ${relu})`, () => {
      const perId = valueAndGrads((ts, ids, rest, w, b) => fieldsLinear(fieldInput(ts, ids, rest ? [rest] : [], threshold), w, b, relu), withRest);
      const dense = valueAndGrads(materialised(relu), withRest);
      expect(perId.length).toBe(dense.length);
      perId.forEach((g, i) => expectAllClose(g, dense[i]!, 1e-5, 1e-5));
      // and the gradients are not all zero: the comparison means something
      expect(perId.every((g) => g.some((v) => v !== 0))).toBe(true);
    });
  }

  it("splits the fields by how often their ids repeat in the batch", () => {
    const x = fieldInput(tables(1), idsFor(1), [randn([B, 3], 2)]);
    expect(x.perId.map((p) => p.column)).toEqual([0, D]); // the fields of 3 and 10 rows
    expect(x.perId.map((p) => p.uniq.length)).toEqual([3, 10]);
    expect(x.otherColumns).toEqual([[2 * D, 2 * D + 3]]); // fields 2 and 3, then the rest: adjacent, merged
    expect(x.others!.shape).toEqual([B, 2 * D + 3]);
    expect(x.width).toBe(4 * D + 3);
  });

  it("gives the same bits whatever ran before it (scratch buffers are reused, never stale)", () => {
    const small = (): Float32Array => fieldsLinear(fieldInput(tables(3), idsFor(3, MIXED, 5)), randn([2, MIXED.length * D], 4), null).data;
    const first = small();
    fieldsLinear(fieldInput(tables(5), idsFor(5), [randn([B, 6], 6)], 1), randn([33, MIXED.length * D + 6], 7), randn([33], 8));
    expect(Array.from(small())).toEqual(Array.from(first));
  });

  it("keeps its own copy of the ids: reusing the id buffer before backward changes nothing", () => {
    const run = (clobber: boolean): Float32Array[] => {
      const ts = tables(9);
      const ids = idsFor(9);
      const w = randn([3, MIXED.length * D], 10);
      const y = fieldsLinear(fieldInput(ts, ids), w);
      if (clobber) ids.fill(0);
      sum(y).backward();
      return ts.map((t) => denseGrad(t));
    };
    expect(run(true).map((g) => Array.from(g))).toEqual(run(false).map((g) => Array.from(g)));
  });

  it("rejects bad ids and shapes with the row, field and sizes", () => {
    const ts = tables(1);
    const ids = idsFor(1);
    ids[2 * MIXED.length + 1] = 10; // row 2, field 1 has 10 rows
    expect(() => fieldInput(ts, ids)).toThrow(/id 10 at row 2, field 1 is out of range for a table of 10 rows/);
    const negative = idsFor(1);
    negative[3 * MIXED.length + MIXED.length - 1] = -1; // row 3, the last field
    expect(() => fieldInput(ts, negative)).toThrow(new RegExp(`id -1 at row 3, field ${MIXED.length - 1} is out of range`));
    expect(() => fieldsLinear(fieldInput(ts, idsFor(1)), randn([7, 19], 3))).toThrow(/weight \[7, 19\] does not match an input of 20 columns \(need \[O, 20\]\)/);
    expect(() => fieldInput(ts, idsFor(1), [randn([3, 2], 4)])).toThrow(/\[3, 2\] does not have the 50 rows of the ids/);
    expect(() => fieldInput(ts, idsFor(1).subarray(1))).toThrow(/199 ids is not a multiple of 4 fields/);
  });
});

describe("the model's first layers: per distinct id vs over the materialised input", () => {
  const sim = new AppStoreSimulator({ users: 200, apps: 80, seed: 6 });
  const ds = sim.dataset(300);
  const make = (firstLayer: "per-id" | "dense"): Esmm => {
    const m = new Esmm({ preset: "esmm-mmoe", fields: sim.fieldSpecs(), dense: [...DENSE_FEATURES], dim: 4, experts: { count: 2, hidden: [16, 8] }, towers: { hidden: [4] }, seed: 3 });
    m.firstLayer = firstLayer;
    return m;
  };

  it("gives the same outputs and gradients (bags and dense features included)", () => {
    const a = make("per-id");
    const b = make("dense");
    const oa = a.forward(ds.all());
    const ob = b.forward(ds.all());
    expectAllClose(oa.pCtcvr.data, ob.pCtcvr.data, 1e-6, 1e-5);
    expectAllClose(oa.gates!.cvr.data, ob.gates!.cvr.data, 1e-6, 1e-5);
    a.loss(oa, ds.click, ds.conversion).total.backward();
    b.loss(ob, ds.click, ds.conversion).total.backward();
    const gb = new Map(b.namedParameters().map(([n, p]) => [n, denseGrad(p)]));
    for (const [name, p] of a.namedParameters()) expectAllClose(denseGrad(p), gb.get(name)!, 1e-6, 1e-4);
  });

  it("scores a row the same, bit for bit, whatever rows share its batch", () => {
    const m = make("per-id");
    const order = Int32Array.from({ length: ds.size }, (_, i) => i);
    const all = m.predict(ds.all());
    const few = m.predict(ds.take(order, 0, 7)); // 7 rows: every field's ids nearly all distinct
    expect(Array.from(few.pCtcvr)).toEqual(Array.from(all.pCtcvr.subarray(0, 7)));
    // because without a graph every field of these small tables goes per id; while recording, a batch
    // whose ids are mostly distinct is partly gathered instead
    const single = m.config.fields.flatMap((f, i) => (f.kind === "single" ? [m.embeddings[i]!.weight] : []));
    const ids = ds.take(order, 0, 7).ids;
    expect(noGrad(() => fieldInput(single, ids)).perId.length).toBe(single.length);
    expect(fieldInput(single, ids).perId.length).toBeLessThan(single.length);
  });

  it("in inference, fields of large tables go dense, small ones per id, and a row's scores still do not depend on its batch", () => {
    // one table above PER_ID_INFER_MAX_ROWS (dense), two below (per id)
    const m = new Esmm({ preset: "esmm-mmoe", fields: [{ name: "user", vocab: PER_ID_INFER_MAX_ROWS + 900 }, { name: "app", vocab: 300 }, { name: "pos", vocab: 20 }], dim: 4, experts: { count: 2, hidden: [16, 8] }, towers: { hidden: [4] }, seed: 4 });
    const B = 700;
    const rng = new Rng(8);
    const ids = Int32Array.from({ length: B * 3 }, (_, i) => rng.int([PER_ID_INFER_MAX_ROWS + 900, 300, 20][i % 3]!));
    const tables = m.embeddings.map((e) => e.weight);
    expect(noGrad(() => fieldInput(tables, ids)).perId.map((p) => p.table)).toEqual([tables[1], tables[2]]);
    const whole = m.predict(ids).pCtcvr;
    for (const size of [1, 3, 7, 33, 256]) {
      for (let start = 0; start + size <= B; start += 211) {
        const part = m.predict(ids.subarray(start * 3, (start + size) * 3)).pCtcvr;
        expect(Array.from(part), `rows ${start}..${start + size}`).toEqual(Array.from(whole.subarray(start, start + size)));
      }
    }
  });

  it("trains to the same weights within float rounding", async () => {
    const a = make("per-id");
    const b = make("dense");
    for (const m of [a, b]) await train(m, ds, { epochs: 2, batchSize: 64, optimizer: new Adam(m.namedParameters(), { lr: 1e-2 }) });
    const wb = new Map(b.namedParameters().map(([n, p]) => [n, p.data]));
    for (const [name, p] of a.namedParameters()) expectAllClose(p.data, wb.get(name)!, 1e-4, 1e-3);
  });
});
