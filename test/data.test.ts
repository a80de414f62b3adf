import { describe, expect, it } from "vitest";
import { TokenIndex } from "../src/data/tokens.js";
import { AppStoreSimulator, BatchBuilder, Rng, CsvRowParser, DataError, Dataset, FieldMap, UnseenCounts, VocabBuilder, splitCsvLine, fnv1a } from "../src/index.js";

const HEADER = "click,conversion,user_id,app,tags,price";
const parser = (): CsvRowParser => new CsvRowParser(HEADER, { multi: [{ name: "tags" }], dense: ["price"] }, "f.csv");

describe("CSV rows", () => {
  it("parses categorical, multi-valued (with optional weights) and dense columns", () => {
    const r = parser().parse("1,1,u7,a3,x:2|y|z:0.5,4.5", 2);
    expect(r.click).toBe(1);
    expect(r.conversion).toBe(1);
    expect(r.singles).toEqual(["u7", "a3"]);
    expect(r.multis[0]).toEqual({ tokens: ["x", "y", "z"], weights: [2, 1, 0.5] });
    expect(r.dense).toEqual([4.5]);
    expect(r.user).toBe("u7");
    expect(parser().parse("0,0,u,a,,1", 3).multis[0]).toEqual({ tokens: [], weights: null });
  });

  it("reads dense values and weights in any decimal notation, spaces around them allowed", () => {
    const cells = ["1.", ".5", "-2e-3", "+4E2", " 3 ", "-0", "007"];
    expect(cells.map((c) => parser().parse(`0,0,u,a,x:${c.trim()},${c}`, 2).dense[0])).toEqual([1, 0.5, -0.002, 400, 3, -0, 7]);
    expect(cells.map((c) => parser().parse(`0,0,u,a,x:${c.trim()},1`, 2).multis[0]!.weights![0])).toEqual([1, 0.5, -0.002, 400, 3, -0, 7]);
  });

  it("handles quoted cells", () => {
    expect(splitCsvLine('a,"b,c","d""e",f', ",")).toEqual(["a", "b,c", 'd"e', "f"]);
    expect(splitCsvLine('a,"open', ",")).toBe(null);
  });

  const bad: Array<[string, string]> = [
    ["1,0,u,a,x", 'f.csv:7: 5 columns, the header has 6'],
    ["2,0,u,a,x,1", 'f.csv:7: column "click": label "2" is not 0 or 1'],
    ["0,1,u,a,x,1", 'f.csv:7: column "conversion": a conversion without a click is a data error'],
    ["1,0,u,a,x,abc", 'f.csv:7: column "price": "abc" is not a finite number'],
    ["1,0,u,a,x,", 'f.csv:7: column "price": "" is not a finite number'],
    ["1,0,u,a,x:zz,1", 'f.csv:7: column "tags": weight "zz" of "x:zz" is not a finite number'],
    // only decimal notation: JavaScript's Number() would read these as 16, 3, 7 and Infinity
    ["1,0,u,a,x,0x10", 'f.csv:7: column "price": "0x10" is not a finite number'],
    ["1,0,u,a,x,0b11", 'f.csv:7: column "price": "0b11" is not a finite number'],
    ["1,0,u,a,x:0o7,1", 'f.csv:7: column "tags": weight "0o7" of "x:0o7" is not a finite number'],
    ["1,0,u,a,x,Infinity", 'f.csv:7: column "price": "Infinity" is not a finite number'],
    ['1,0,"u,a,x,1', "f.csv:7: unterminated quoted cell (a quoted cell must end on its line: cells spanning lines are not read)"],
  ];
  it.each(bad)("rejects %j with file, line and column", (line, message) => {
    let err: unknown;
    try {
      parser().parse(line, 7);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toBe(message);
  });

  it("rejects a header without the label columns, naming what it has", () => {
    expect(() => new CsvRowParser("clk,conversion,a", {}, "h.csv")).toThrow('h.csv:1: column "click": missing click label column (header has: clk, conversion, a)');
    expect(() => new CsvRowParser("click,conversion,a", { categorical: ["true_pctr"] }, "h.csv")).toThrow(/ground-truth columns are never features/);
  });

  it("says why a header seems to lack a column: another delimiter, or spaces around the names", () => {
    expect(() => new CsvRowParser("click;conversion;a", {}, "s.csv")).toThrow(`s.csv:1: column "click": missing click label column (header has: click;conversion;a); the header is one column: if the file is separated by ";", pass --delimiter ';'`);
    expect(() => new CsvRowParser("click\tconversion\ta", {}, "t.tsv")).toThrow("the header is one column: if the file is separated by tabs, pass --delimiter tab");
    expect(() => new CsvRowParser("click, conversion, a", {}, "c.csv")).toThrow(`c.csv:1: column "conversion": missing conversion label column (header has: click,  conversion,  a); the header has " conversion": column names are matched exactly, spaces included`);
    expect(() => new CsvRowParser("clk,conversion,a", {}, "h.csv")).toThrow(/missing click label column \(header has: clk, conversion, a\)$/); // no hint where none applies
    expect(new CsvRowParser("click\tconversion\ta", { delimiter: "\t" }, "t.tsv").schema.categorical).toEqual(["a"]);
  });

  it("never uses a label as a feature, nor one column as two embedding fields", () => {
    // --categorical click,age once trained a model with the click label as a feature, silently
    const h = "click,conversion,a,b,x";
    expect(() => new CsvRowParser(h, { categorical: ["click", "a"] }, "h.csv")).toThrow('h.csv:1: column "click": the click label cannot be a categorical feature (it would give the model the answer)');
    expect(() => new CsvRowParser(h, { dense: ["conversion"] }, "h.csv")).toThrow('h.csv:1: column "conversion": the conversion label cannot be a dense feature');
    expect(() => new CsvRowParser(h, { multi: [{ name: "click" }] }, "h.csv")).toThrow('the click label cannot be a multi-valued feature');
    expect(() => new CsvRowParser("clk,cv,a", { click: "clk", conversion: "cv", categorical: ["cv", "a"] }, "h.csv")).toThrow('h.csv:1: column "cv": the conversion label cannot be a categorical feature');
    expect(() => new CsvRowParser(h, { categorical: ["a", "b"], multi: [{ name: "b" }] }, "h.csv")).toThrow('h.csv:1: column "b": is both a categorical and a multi-valued feature');
    // a number may be read both as an id and as a value (a known device), so dense may overlap
    expect(new CsvRowParser(h, { categorical: ["a", "x"], dense: ["x"] }, "h.csv").schema.dense).toEqual(["x"]);
    expect(() => new CsvRowParser(h, { categorical: ["a"], ignore: ["a"] }, "h.csv")).toThrow('column "a": is both ignored and a categorical feature');
    expect(() => new CsvRowParser(h, { dense: ["true_pctr"] }, "h.csv")).toThrow(/ground-truth columns are never features/);
    // by default every other column is categorical, the labels never
    expect(new CsvRowParser(h, { dense: ["x"] }, "h.csv").schema.categorical).toEqual(["a", "b"]);
  });

  it("never uses the ground-truth columns as features", () => {
    const p = new CsvRowParser("click,conversion,true_pctr,true_pcvr,a", {}, "t.csv");
    expect(p.schema.categorical).toEqual(["a"]);
    const r = p.parse("0,0,0.25,0.5,q", 2);
    expect([r.truePctr, r.truePcvr]).toEqual([0.25, 0.5]);
    expect(() => p.parse("0,0,1.5,0.5,q", 3)).toThrow('t.csv:3: column "true_pctr": probability 1.5 is outside [0, 1]');
  });
});

describe("vocabularies", () => {
  it("TokenIndex gives each token the id a Map in insertion order gives it, integer-looking or not, across its growth", () => {
    const rng = new Rng(11);
    const edge = ["0", "00", "07", "7", "-7", "+7", "7.0", "1e3", "999999999", "1000000000", "2147483648", "", " 7", "7 ", "__proto__", "constructor", "x"];
    const draw = (): string => {
      const r = rng.next();
      if (r < 0.05) return edge[rng.int(edge.length)]!;
      if (r < 0.8) return String(rng.int(300_000)); // integer ids, most of them
      if (r < 0.9) return `0${rng.int(1000)}`; // leading zeros: strings, not numbers
      return `item-${rng.int(5000)}`;
    };
    const index = new TokenIndex();
    const ref = new Map<string, number>();
    for (let i = 0; i < 400_000; i++) {
      const t = draw();
      if (!ref.has(t)) ref.set(t, ref.size);
      expect(index.add(t)).toBe(ref.get(t));
    }
    expect(index.size).toBe(ref.size);
    expect(ref.size).toBeGreaterThan(150_000); // the integer table grew many times over
    for (const [t, id] of ref) if (index.get(t) !== id) expect([t, index.get(t)]).toEqual([t, id]);
    for (const t of ["300000", "1", "01", "item-x", "-0", "1000000001", "9".repeat(12)]) expect(index.get(t)).toBe(ref.get(t) ?? -1);
    // "7" and "07" are two tokens, as they are two strings
    expect(index.get("7")).not.toBe(index.get("07"));
  });

  it("TokenIndex keeps long tokens cut from lines as copies with the same characters, lone surrogates included", () => {
    const long = ["a".repeat(12), "b".repeat(13), "\ud800" + "x".repeat(20), "x".repeat(20) + "\udfff", "\u00e9\u4e2d" + "0123456789abcdef", "12345678901234"];
    const lines = long.map((t, i) => `${i},${t},${"p".repeat(400)}`);
    const index = new TokenIndex({ keepTokens: true });
    const cut = lines.map((l) => l.split(",")[1]!);
    cut.forEach((t, i) => expect(index.add(t)).toBe(i));
    expect(index.tokens).toEqual(long);
    long.forEach((t, i) => expect(index.get(t)).toBe(i));
    expect(index.get("\ud800" + "x".repeat(19))).toBe(-1);
  });

  it("keep ids seen at least minCount times, most frequent first; the rest map to 0", () => {
    const p = parser();
    const vb = new VocabBuilder(p.schema);
    for (const line of ["0,0,u1,a1,x,1", "0,0,u1,a2,x|y,3", "1,0,u2,a1,x,5"]) vb.add(p.parse(line, 2));
    const pre = vb.finish({ minCount: 2 });
    const [users, apps, tags] = pre.maps;
    expect(users!.mapping).toEqual({ kind: "vocab", tokens: ["u1"] });
    expect(apps!.id("a1")).toBe(1);
    expect(apps!.id("a2")).toBe(0);
    expect(tags!.id("x")).toBe(1);
    expect(tags!.id("never-seen")).toBe(0);
    expect(pre.denseMean).toEqual([3]);
    expect(pre.denseStd[0]).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(pre.fieldSpecs().map((f) => [f.name, f.vocab, f.kind])).toEqual([["user_id", 2, "single"], ["app", 2, "single"], ["tags", 2, "multi"]]);
  });

  it("dense statistics: mean and standard deviation over the rows; a column of one value is not scaled (std 1, not rounding noise)", () => {
    const p = parser();
    const fit = (prices: number[]): { mean: number; std: number } => {
      const vb = new VocabBuilder(p.schema);
      prices.forEach((v, i) => vb.add(p.parse(`0,0,u,a,x,${v}`, i + 2)));
      const pre = vb.finish();
      return { mean: pre.denseMean[0]!, std: pre.denseStd[0]! };
    };
    expect(fit([1, 2, 3, 6])).toEqual({ mean: 3, std: Math.sqrt(3.5) }); // (4 + 1 + 0 + 9) / 4
    // Ali-CCP's sample holds D109_14 = 0.4734 in all 100 rows: sum v^2 / n - mean^2 left a std of 1.7e-8,
    // and a model then read any other value of that column as millions
    const constant = fit(Array.from({ length: 100 }, () => 0.4734));
    expect(constant.std).toBe(1);
    expect(constant.mean).toBeCloseTo(0.4734, 12);
    expect(fit([0.1, 0.1, 0.1]).std).toBe(1);
    expect(fit([0.1, 0.2]).std).toBeCloseTo(0.05, 12);
  });

  it("the hashing trick maps into buckets 1..n, stably (FNV-1a)", () => {
    // FNV-1a 32-bit of "a" is 0xe40c292c (a published test vector)
    expect(fnv1a("a")).toBe(0xe40c292c);
    const m = new FieldMap({ kind: "hash", buckets: 10 });
    expect(m.size).toBe(11);
    expect(m.id("a")).toBe(1 + (0xe40c292c % 10));
  });

  /** A builder holding three rows: a two-token bag, an empty one, one token of weight 3. */
  const threeRows = (): BatchBuilder => {
    const p = parser();
    const vb = new VocabBuilder(p.schema);
    const rows = ["0,0,u1,a1,x|y,1", "1,0,u2,a1,,2", "1,1,u1,a2,y:3,3"].map((l, i) => p.parse(l, i + 2));
    rows.forEach((r) => vb.add(r));
    const bb = new BatchBuilder(vb.finish());
    rows.forEach((r) => bb.push(r));
    return bb;
  };

  it("batches carry bags as CSR offsets", () => {
    const bb = threeRows();
    const b = bb.flush();
    expect(b.size).toBe(3);
    expect(Array.from(b.bags[0]!.offsets)).toEqual([0, 2, 2, 3]);
    expect(Array.from(b.bags[0]!.weights!)).toEqual([1, 1, 3]);
    expect(Array.from(b.user!)).toEqual([0, 1, 0]);
  });

  it("rows(from, to) copies a range of the rows collected so far, bags rebased, and keeps them for flush", () => {
    const bb = threeRows();
    const mid = bb.rows(1, 3);
    expect(mid.size).toBe(2);
    expect(Array.from(mid.bags[0]!.offsets)).toEqual([0, 0, 1]); // [2, 2, 3] less row 1's start
    expect(Array.from(mid.bags[0]!.weights!)).toEqual([3]);
    expect(Array.from(mid.click)).toEqual([1, 1]);
    expect(Array.from(mid.conversion)).toEqual([0, 1]);
    expect(Array.from(mid.user!)).toEqual([1, 0]);
    expect(Array.from(mid.dense!)).toEqual(Array.from(bb.rows(0, 3).dense!.subarray(1)));
    const whole = bb.rows(0, 3);
    expect(Array.from(mid.ids)).toEqual(Array.from(whole.ids.subarray(whole.ids.length / 3)));
    expect(bb.size).toBe(3); // still there
    expect(Array.from(bb.flush().bags[0]!.offsets)).toEqual([0, 2, 2, 3]);
    expect(bb.size).toBe(0);
  });
});

describe("BatchBuilder over many rows", () => {
  it("keeps every value through its columns' growth, the float columns rounded to float32 once", () => {
    // 5,000 rows (past the columns' first sizes many times): a user, an app, a bag of 0-2 tokens with
    // weights, one dense value, labels; each checked against the value it was given
    const p = new CsvRowParser("click,conversion,user_id,app,tags,x", { multi: [{ name: "tags" }], dense: ["x"], user: "user_id" }, "t.csv");
    const N = 5000;
    const line = (i: number): string => `${i % 3 === 0 ? 1 : 0},${i % 9 === 0 ? 1 : 0},u${i % 101},a${i % 7},${["", "t1", "t1:0.1|t2"][i % 3]},${i / 3}`;
    const rows = Array.from({ length: N }, (_, i) => p.parse(line(i), i + 2));
    const vb = new VocabBuilder(p.schema);
    rows.forEach((r) => vb.add(r));
    const pre = vb.finish();
    const bb = new BatchBuilder(pre);
    rows.forEach((r) => bb.push(r));
    const b = bb.flush();
    const [users, apps, tags] = pre.maps;
    expect(b.size).toBe(N);
    for (const i of [0, 1, 63, 64, 65, 1000, 4999]) {
      expect([b.ids[2 * i], b.ids[2 * i + 1]], `row ${i}`).toEqual([users!.id(`u${i % 101}`), apps!.id(`a${i % 7}`)]);
      expect(b.dense![i], `row ${i}`).toBe(Math.fround(i / 3));
      expect([b.click[i], b.conversion[i]], `row ${i}`).toEqual([i % 3 === 0 ? 1 : 0, i % 9 === 0 ? 1 : 0]);
      const bag = b.bags[0]!;
      const [lo, hi] = [bag.offsets[i]!, bag.offsets[i + 1]!];
      expect(Array.from(bag.ids.subarray(lo, hi)), `row ${i}`).toEqual([[], [tags!.id("t1")], [tags!.id("t1"), tags!.id("t2")]][i % 3]);
      expect(Array.from(bag.weights!.subarray(lo, hi)), `row ${i}`).toEqual([[], [1], [Math.fround(0.1), 1]][i % 3]);
    }
    expect(b.bags[0]!.offsets[N]).toBe(1667 + 2 * 1666); // rows 1, 4, ... 4999 hold one token; 2, 5, ... 4997 two
    expect(Array.from(b.user!.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(b.user![101]).toBe(0); // u0 again
    expect(bb.size).toBe(0);
  });
});

describe("the AppS simulator", () => {
  it("hits the requested rates and carries ground truth", () => {
    const sim = new AppStoreSimulator({ seed: 11 });
    const ds = sim.dataset(100_000, 0);
    let clicks = 0;
    let conv = 0;
    let tp = 0;
    for (let i = 0; i < ds.size; i++) {
      clicks += ds.click[i]!;
      conv += ds.conversion[i]!;
      tp += ds.truePctr![i]!;
    }
    expect(clicks / ds.size).toBeGreaterThan(0.045);
    expect(clicks / ds.size).toBeLessThan(0.055);
    expect(conv / clicks).toBeGreaterThan(0.1);
    expect(conv / clicks).toBeLessThan(0.14);
    expect(tp / ds.size).toBeCloseTo(clicks / ds.size, 2);
  });

  it("is deterministic per seed and stream; streams differ", () => {
    const a = [...new AppStoreSimulator({ seed: 3, users: 100, apps: 50 }).rows(50, 1)];
    const b = [...new AppStoreSimulator({ seed: 3, users: 100, apps: 50 }).rows(50, 1)];
    const c = [...new AppStoreSimulator({ seed: 3, users: 100, apps: 50 }).rows(50, 2)];
    expect(a.map((r) => [...r.ids, r.click, r.truePcvr])).toEqual(b.map((r) => [...r.ids, r.click, r.truePcvr]));
    expect(a.map((r) => r.ids[0])).not.toEqual(c.map((r) => r.ids[0]));
  });

  it("selection bias: icon appeal raises clicks and lowers conversion, so clicked rows over-represent low pCVR", () => {
    const sim = new AppStoreSimulator({ seed: 5, bias: 2 });
    const ds = sim.dataset(50_000);
    let all = 0;
    let clicked = 0;
    let nc = 0;
    for (let i = 0; i < ds.size; i++) {
      all += ds.truePcvr![i]!;
      if (ds.click[i] === 1) {
        clicked += ds.truePcvr![i]!;
        nc++;
      }
    }
    // The mean true pCVR over clicked rows is below the entire-space mean: clicks select against conversion.
    expect(clicked / nc).toBeLessThan(all / ds.size);
  });

  it("rejects impossible rates", () => {
    expect(() => new AppStoreSimulator({ ctr: 1.5 })).toThrow("simulator: ctr must be in (0, 1), got 1.5");
  });
});

describe("Dataset.take", () => {
  it("copies the ordered rows' ids, bags with weights, dense values and labels", () => {
    // 4 rows, 3 single fields, one weighted bag (row 2's is empty), 2 dense features
    const ids = Int32Array.from({ length: 12 }, (_, i) => 100 + i);
    const bag = { offsets: Int32Array.of(0, 2, 3, 3, 6), ids: Int32Array.of(7, 8, 9, 10, 11, 12), weights: Float32Array.of(0.5, 1, 2, 3, 4, 5) };
    const dense = Float32Array.of(0, 0.1, 1, 1.1, 2, 2.1, 3, 3.1);
    const ds = new Dataset(4, ids, 3, [bag], dense, 2, Float32Array.of(1, 0, 1, 1), Float32Array.of(1, 0, 0, 1), Int32Array.of(40, 41, 42, 43), Float32Array.of(0.4, 0.1, 0.2, 0.3));
    const b = ds.take([3, 0, 2, 1], 1, 4); // rows 0, 2, 1
    expect(b.size).toBe(3);
    expect(Array.from(b.ids)).toEqual([100, 101, 102, 106, 107, 108, 103, 104, 105]);
    expect(Array.from(b.bags[0]!.offsets)).toEqual([0, 2, 2, 3]);
    expect(Array.from(b.bags[0]!.ids)).toEqual([7, 8, 9]);
    expect(Array.from(b.bags[0]!.weights!)).toEqual([0.5, 1, 2]);
    expect(Array.from(b.dense!)).toEqual([0, 0.1, 2, 2.1, 1, 1.1].map(Math.fround));
    expect(Array.from(b.click)).toEqual([1, 1, 0]);
    expect(Array.from(b.conversion)).toEqual([1, 0, 0]);
  });
});

describe("UnseenCounts", () => {
  it("counts id 0 (the out-of-vocabulary row) per single field and per bag, over batches", () => {
    const u = new UnseenCounts([{ name: "user" }, { name: "app" }, { name: "cats", kind: "multi" }]);
    // 3 rows x 2 single fields; the bag holds 2, 0 and 3 ids
    u.add({ size: 3, ids: Int32Array.of(0, 4, 2, 0, 0, 0), bags: [{ offsets: Int32Array.of(0, 2, 2, 5), ids: Int32Array.of(1, 0, 0, 0, 7) }] });
    u.add({ size: 1, ids: Int32Array.of(5, 1), bags: [{ offsets: Int32Array.of(0, 1), ids: Int32Array.of(0) }] });
    expect(u.unseen).toEqual([2, 2, 4]);
    expect(u.total).toEqual([4, 4, 6]);
    expect(u.shares()).toEqual({ user: 0.5, app: 0.5, cats: 4 / 6 });
    expect(u.above(0.6)).toBe("cats 66.7%");
    expect(u.above(0.5)).toBe("user 50.0%, app 50.0%, cats 66.7%");
    expect(u.above(0.7)).toBe(null);
    // a field with no values has no share, and is never reported
    const empty = new UnseenCounts([{ name: "cats", kind: "multi" }]);
    empty.add({ size: 2, ids: new Int32Array(0), bags: [{ offsets: Int32Array.of(0, 0, 0), ids: new Int32Array(0) }] });
    expect(empty.shares()).toEqual({ cats: null });
    expect(empty.above(0)).toBe(null);
  });
});
