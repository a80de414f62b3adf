/**
 * `esmm export` / toOnnx: the ONNX file of a checkpoint scores as esmm-ts does. onnxruntime (a second
 * implementation of every operator the graph uses) runs the files of each bottom, of a hashed
 * checkpoint, of a mean-pooled bag and of both input kinds, against ScoringModel on the same records,
 * unseen tokens and empty bags included; its WebAssembly build (onnxruntime-web, what a page would
 * run) scores two of them too. Both live in interop/onnx (`npm ci --ignore-scripts
 * --prefix interop/onnx`); without them those tests skip with one line, and the file's structure is
 * still read back here with a small protobuf reader. The ONNX project's own checker (python3-onnx,
 * where installed) validates every kind of file, shape inference included.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { Esmm, Preprocessor, ScoringModel, splitCsvLine, toOnnx, toOnnxParts, type FeatureRecord, type Mapping, type OnnxInput, type Schema } from "../src/index.js";
import { loadModel } from "../src/node/index.js";

/** What these tests use of onnxruntime-node (typed here: the package is not installed where the type check runs). */
interface OrtTensor {
  readonly data: ArrayLike<number | bigint | string>;
}
interface Ort {
  Tensor: new (type: OnnxInput["type"], data: OnnxInput["data"], dims: number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array | string): Promise<{ inputNames: readonly string[]; outputNames: readonly string[]; run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
}
const ORT_DIR = join(import.meta.dirname, "..", "interop", "onnx");
let ort: Ort | null = null;
try {
  ort = createRequire(join(ORT_DIR, "package.json"))("onnxruntime-node") as Ort;
} catch {
  console.log("onnx: the onnxruntime runs skipped (no onnxruntime-node: npm ci --ignore-scripts --prefix interop/onnx)");
}

// onnxruntime-web's WebAssembly build: the runtime a page would score an exported file with
let ortWeb: (Ort & { env: { wasm: { numThreads: number } } }) | null = null;
try {
  ortWeb = createRequire(join(ORT_DIR, "package.json"))("onnxruntime-web") as typeof ortWeb;
  ortWeb!.env.wasm.numThreads = 1; // no worker threads inside the test runner
} catch {
  console.log("onnx: the onnxruntime-web runs skipped (no onnxruntime-web: npm ci --ignore-scripts --prefix interop/onnx)");
}

const dir = mkdtempSync(join(tmpdir(), "esmm-onnx-"));
const io = { out: () => undefined, err: () => undefined, isTTY: false };
const train = join(dir, "train.csv");
const valid = join(dir, "valid.csv");
const SMALL = ["--epochs", "1", "--dim", "4", "--expert-hidden", "16,8", "--tower-hidden", "4", "--min-count", "2"];

beforeAll(async () => {
  expect(await main(["generate", "--rows", "3000", "--out", train, "--users", "200", "--apps", "80"], io)).toBe(0);
  expect(await main(["generate", "--rows", "400", "--stream", "1", "--out", valid, "--users", "300", "--apps", "120"], io)).toBe(0); // some ids unseen in training
});

/** The rows of a CSV file as records of their raw cells, and two more: an empty bag, and tokens never seen. */
function records(path: string): FeatureRecord[] {
  const [head, ...rows] = readFileSync(path, "utf8").trimEnd().split("\n");
  const cols = splitCsvLine(head!, ",")!;
  const out: Array<Record<string, string>> = rows.map((r) => Object.fromEntries(splitCsvLine(r, ",")!.map((c, i) => [cols[i]!, c])));
  out.push({ ...out[0]!, recent_cats: "" }, { ...out[1]!, user_id: "no-such-user", app_id: "", recent_cats: "x:2|y" });
  return out;
}

/** Plain inputs (ScoringModel.onnxInputs) as onnxruntime's tensors. */
function tensors(o: Ort, inputs: Record<string, OnnxInput>): Record<string, OrtTensor> {
  return Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, new o.Tensor(v.type, v.data, v.dims)]));
}

/** Makes what lies past each bag's length garbage (another token, weight 7): the file must ignore it. */
function garbagePadding(inputs: Record<string, OnnxInput>, bags: readonly string[]): Record<string, OnnxInput> {
  const out = { ...inputs };
  for (const b of bags) {
    const [N, L] = out[b]!.dims as [number, number];
    const lengths = out[`${b}.lengths`]!.data as BigInt64Array;
    const ids = out[b]!.data instanceof BigInt64Array ? BigInt64Array.from(out[b]!.data as BigInt64Array) : [...(out[b]!.data as string[])];
    const w = Float32Array.from(out[`${b}.weights`]!.data as Float32Array);
    for (let i = 0; i < N; i++) {
      for (let j = Number(lengths[i]); j < L; j++) {
        w[i * L + j] = 7;
        if (ids instanceof BigInt64Array) ids[i * L + j] = 1n;
        else ids[i * L + j] = "padding, ignored";
      }
    }
    out[b] = { ...out[b]!, data: ids } as OnnxInput;
    out[`${b}.weights`] = { ...out[`${b}.weights`]!, data: w };
  }
  return out;
}

/**
 * Runs a model's ONNX file in onnxruntime on records; the largest difference from ScoringModel's
 * scores, relative to each (or to 1e-6 for smaller ones: a gate weight of 1e-20, from a logit of
 * thousands, differs by float32's rounding of that logit, a large part of itself).
 */
async function worstDifference(o: Ort, sm: ScoringModel, recs: readonly FeatureRecord[], mode: "tokens" | "ids", bytes = toOnnx(sm.model, sm.preprocessor, { inputs: mode })): Promise<number> {
  const session = await o.InferenceSession.create(bytes);
  const got = await session.run(tensors(o, garbagePadding(sm.onnxInputs(recs, mode), sm.columns.multi)));
  const want = sm.scoreSync(recs);
  let worst = 0;
  const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-6);
  want.forEach((w, i) => {
    worst = Math.max(worst, rel(got.pctr!.data[i] as number, w.pCtr), rel(got.pcvr!.data[i] as number, w.pCvr), rel(got.pctcvr!.data[i] as number, w.pCtcvr));
    for (const t of ["ctr", "cvr"] as const) w.gates?.[t].forEach((v, e, all) => (worst = Math.max(worst, rel(got[`gates_${t}`]!.data[i * all.length + e] as number, v))));
  });
  return worst;
}

describe.skipIf(!ort)("ONNX files in onnxruntime score as esmm-ts", () => {
  it.each([
    ["esmm-mmoe", []],
    ["esmm", []],
    ["base", []],
    ["escm2-dr", []],
    ["hashed", ["--hash-buckets", "300"]],
  ] as const)("%s: every output within 1e-5 of ScoringModel's, unseen tokens and an empty bag included", async (name, extra) => {
    const m = join(dir, name);
    expect(await main(["train", "--train", train, "--model", m, "--preset", name === "hashed" ? "esmm-mmoe" : name, ...SMALL, ...extra], io)).toBe(0);
    const sm = await loadModel(m);
    const recs = records(valid);
    for (const mode of name === "hashed" ? (["ids"] as const) : (["tokens", "ids"] as const)) {
      expect(await worstDifference(ort!, sm, recs, mode), `${name}, ${mode}`).toBeLessThan(1e-5);
    }
  });

  it("a mean-pooled bag, several dense features and a bag-only model", async () => {
    const schema: Schema = { click: "click", conversion: "conversion", categorical: ["u", "a"], multi: [{ name: "tags", pooling: "mean", sep: ";" }], dense: ["p", "q"], user: null, truePctr: null, truePcvr: null };
    const mappings: Mapping[] = [{ kind: "vocab", tokens: ["u1", "u2", "u3"] }, { kind: "vocab", tokens: ["a1", "a2"] }, { kind: "vocab", tokens: ["t1", "t2", "t3", "t4"] }];
    const pre = new Preprocessor(schema, mappings, [1.5, -2], [0.5, 3]);
    const sm = new ScoringModel(new Esmm({ preset: "esmm-mmoe", fields: pre.fieldSpecs(), dense: schema.dense, denseMean: pre.denseMean, denseStd: pre.denseStd, dim: 3, experts: { count: 3, hidden: [5] }, seed: 4 }), pre);
    const recs: FeatureRecord[] = [
      { u: "u1", a: "a2", tags: "t1;t2:0.5;t4", p: 2, q: -1 },
      { u: "u9", a: "a1", tags: "", p: 0, q: 10 },
      { u: "u3", a: "", tags: "t3:4", p: -3.25, q: 0.5 },
      { u: "u2", a: "a2", tags: "zz;t1:0", p: 40, q: -25 },
    ];
    for (const mode of ["tokens", "ids"] as const) expect(await worstDifference(ort!, sm, recs, mode), mode).toBeLessThan(1e-5);
    // statistics as a checkpoint of before 2026-12-07 could hold for a constant column (a std of rounding
    // noise): the file standardises in float64 as the model does, so even these inputs are the same
    const noisy = new Preprocessor(schema, mappings, [0.4733999999999999, -2], [1.747316032582309e-8, 3]);
    const smNoisy = new ScoringModel(new Esmm({ ...sm.model.config, denseMean: noisy.denseMean, denseStd: noisy.denseStd }), noisy);
    expect(await worstDifference(ort!, smNoisy, recs.map((r, i) => ({ ...r, p: 0.4734 + i * 3e-8 })), "tokens")).toBeLessThan(1e-5);
    const bagOnly: Schema = { ...schema, categorical: [], dense: [] };
    const pre2 = new Preprocessor(bagOnly, [mappings[2]!], [], []);
    const sm2 = new ScoringModel(new Esmm({ preset: "esmm", fields: pre2.fieldSpecs(), dim: 3, seed: 5 }), pre2);
    expect(await worstDifference(ort!, sm2, recs, "tokens")).toBeLessThan(1e-5);
  });

  it("a model built in code, with no preprocessor: its fields' ids in, interleaved bags and dense included", async () => {
    const model = new Esmm({
      preset: "base",
      fields: [{ name: "bag_a", vocab: 6, kind: "multi", pooling: "sum" }, { name: "s1", vocab: 5 }, { name: "bag_b", vocab: 4, kind: "multi", pooling: "mean" }, { name: "s2", vocab: 3 }],
      dense: ["d"], denseMean: [0.25], denseStd: [2], dim: 3, experts: { hidden: [6] }, towers: { hidden: [] }, seed: 9,
    });
    // rows: s1, s2 ids; bag_a and bag_b as (ids, weights); d
    const rows = [
      { s1: 1, s2: 2, a: [[5, 1], [0, 2]], b: [[3, 1]], d: 0.5 },
      { s1: 4, s2: 0, a: [], b: [[1, 0.5], [2, 1], [3, 2]], d: -1 },
      { s1: 0, s2: 1, a: [[2, -1]], b: [], d: 3 },
    ];
    const bag = (pick: (r: (typeof rows)[number]) => number[][]) => {
      const offsets = [0];
      const ids: number[] = [];
      const weights: number[] = [];
      for (const r of rows) {
        for (const [id, w] of pick(r)) ids.push(id!), weights.push(w!);
        offsets.push(ids.length);
      }
      return { offsets: Int32Array.from(offsets), ids: Int32Array.from(ids), weights: Float32Array.from(weights) };
    };
    const want = model.predict({ size: 3, ids: Int32Array.from(rows.flatMap((r) => [r.s1, r.s2])), bags: [bag((r) => r.a), bag((r) => r.b)], dense: Float32Array.from(rows.map((r) => r.d)) });
    const o = ort!;
    const padded = (pick: (r: (typeof rows)[number]) => number[][], L: number) => ({
      ids: new o.Tensor("int64", BigInt64Array.from(rows.flatMap((r) => Array.from({ length: L }, (_, j) => BigInt(pick(r)[j]?.[0] ?? 0)))), [3, L]),
      weights: new o.Tensor("float32", Float32Array.from(rows.flatMap((r) => Array.from({ length: L }, (_, j) => pick(r)[j]?.[1] ?? 0))), [3, L]),
      lengths: new o.Tensor("int64", BigInt64Array.from(rows, (r) => BigInt(pick(r).length)), [3]),
    });
    const a = padded((r) => r.a, 2);
    const b = padded((r) => r.b, 3);
    const session = await o.InferenceSession.create(toOnnx(model));
    expect(session.inputNames).toEqual(["s1", "s2", "bag_a", "bag_a.weights", "bag_a.lengths", "bag_b", "bag_b.weights", "bag_b.lengths", "d"]);
    const got = await session.run({
      s1: new o.Tensor("int64", BigInt64Array.from(rows, (r) => BigInt(r.s1)), [3]), s2: new o.Tensor("int64", BigInt64Array.from(rows, (r) => BigInt(r.s2)), [3]),
      bag_a: a.ids, "bag_a.weights": a.weights, "bag_a.lengths": a.lengths, bag_b: b.ids, "bag_b.weights": b.weights, "bag_b.lengths": b.lengths,
      d: new o.Tensor("float32", Float32Array.from(rows, (r) => r.d), [3]),
    });
    for (const [k, n] of [["pCtr", "pctr"], ["pCvr", "pcvr"], ["pCtcvr", "pctcvr"]] as const) want[k].forEach((v, i) => expect(Math.abs((got[n]!.data[i] as number) - v) / v, `${n} ${i}`).toBeLessThan(1e-5));
    expect(() => toOnnx(model, null, { inputs: "tokens" })).toThrow('inputs "tokens" needs the preprocessor');
  });

  it("esmm export writes the file onnxruntime loads; its inputs and outputs are named as documented", async () => {
    const m = join(dir, "esmm-mmoe");
    const out = join(dir, "model.onnx");
    const errs: string[] = [];
    expect(await main(["export", "--model", m, "--out", out], { ...io, err: (s: string) => errs.push(s) })).toBe(0);
    expect(errs.join("\n")).toMatch(/wrote .*model\.onnx \(\d+\.\d MB, ONNX opset 13\): esmm-mmoe;/);
    const session = await ort!.InferenceSession.create(out);
    expect(session.outputNames).toEqual(["pctr", "pcvr", "pctcvr", "gates_ctr", "gates_cvr"]);
    expect(session.inputNames).toEqual(["user_id", "age", "gender", "device", "region", "activity", "app_id", "category", "developer", "price", "rating", "size", "position", "hour", "page", "recent_cats", "recent_cats.weights", "recent_cats.lengths", "app_downloads", "user_tenure"]);
    const sm = await loadModel(m);
    expect(await worstDifference(ort!, sm, records(valid), "tokens", new Uint8Array(readFileSync(out)))).toBeLessThan(1e-5);
  });
});

describe.skipIf(!ortWeb)("ONNX files in onnxruntime-web (WebAssembly) score as esmm-ts", () => {
  it("esmm-mmoe with tokens and a hashed checkpoint with ids: every output within 1e-5", async () => {
    for (const [name, extra, mode] of [["web-tokens", [], "tokens"], ["web-hashed", ["--hash-buckets", "300"], "ids"]] as const) {
      const m = join(dir, name);
      expect(await main(["train", "--train", train, "--model", m, ...SMALL, ...extra], io)).toBe(0);
      expect(await worstDifference(ortWeb!, await loadModel(m), records(valid), mode), name).toBeLessThan(1e-5);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// The ONNX project's own checker (Debian's python3-onnx): the files are valid ONNX, shapes included

const PY = "/usr/bin/python3";
const hasOnnx = spawnSync(PY, ["-c", "import onnx"], { stdio: "ignore" }).status === 0;
if (!hasOnnx) console.log("onnx: the checker runs skipped (no python3-onnx: apt-get install python3-onnx)");

describe.skipIf(!hasOnnx)("onnx.checker (python3-onnx)", () => {
  it("accepts the file of every bottom, of a hashed checkpoint, and of a model built in code, with full shape inference", async () => {
    const files: string[] = [];
    for (const [name, extra] of [["esmm-mmoe", []], ["esmm", []], ["base", []], ["escm2-dr", ["--hash-buckets", "50"]]] as const) {
      const m = join(dir, `checker-${name}`);
      expect(await main(["train", "--train", train, "--model", m, "--preset", name, ...SMALL, ...extra], io)).toBe(0);
      const sm = await loadModel(m);
      for (const mode of extra.length ? (["ids"] as const) : (["tokens", "ids"] as const)) {
        const f = join(dir, `checker-${name}-${mode}.onnx`);
        writeFileSync(f, toOnnx(sm.model, sm.preprocessor, { inputs: mode }));
        files.push(f);
      }
    }
    const coded = join(dir, "checker-coded.onnx");
    writeFileSync(coded, toOnnx(new Esmm({ preset: "esmm-mmoe", fields: [{ name: "a", vocab: 5 }, { name: "tags", vocab: 4, kind: "multi", pooling: "mean" }], dense: ["d"], denseMean: [0], denseStd: [1], dim: 2, experts: { count: 3, hidden: [4] } })));
    files.push(coded);
    const check = "import onnx, sys\nfor f in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(f), full_check=True)\n    print('ok', f)";
    const r = spawnSync(PY, ["-c", check, ...files], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").length).toBe(files.length);
  });
});

// ------------------------------------------------------------------------------------------------
// Without onnxruntime: the file read back field by field

/** A protobuf message's fields by number: varints as bigints, length-delimited ones as bytes. */
function fields(b: Uint8Array): Map<number, Array<bigint | Uint8Array>> {
  const out = new Map<number, Array<bigint | Uint8Array>>();
  let at = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = b[at++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return v;
    }
  };
  while (at < b.length) {
    const key = Number(varint());
    const wire = key & 7;
    let v: bigint | Uint8Array;
    if (wire === 0) v = varint();
    else if (wire === 2) {
      const n = Number(varint());
      v = b.subarray(at, at + n);
      at += n;
    } else if (wire === 5) {
      v = b.subarray(at, at + 4);
      at += 4;
    } else throw new Error(`wire type ${wire}`);
    const list = out.get(key >> 3) ?? [];
    list.push(v);
    out.set(key >> 3, list);
  }
  return out;
}
const text = (v: bigint | Uint8Array | undefined): string => new TextDecoder().decode(v as Uint8Array);

describe("the ONNX file's structure", () => {
  it("IR 7, opset 13 (and ai.onnx.ml 2 for the vocabularies), every parameter stored bit for bit under its checkpoint name", async () => {
    const m = join(dir, "structure");
    expect(await main(["train", "--train", train, "--model", m, ...SMALL], io)).toBe(0);
    const sm = await loadModel(m);
    const model = fields(toOnnx(sm.model, sm.preprocessor, { producerVersion: "9.9.9" }));
    expect(model.get(1)).toEqual([7n]);
    expect(text(model.get(2)![0])).toBe("esmm-ts");
    expect(text(model.get(3)![0])).toBe("9.9.9");
    const opsets = model.get(8)!.map((o) => fields(o as Uint8Array)).map((o) => [text(o.get(1)?.[0] ?? new Uint8Array()), o.get(2)![0]]);
    expect(opsets).toEqual([["", 13n], ["ai.onnx.ml", 2n]]);
    const graph = fields(model.get(7)![0] as Uint8Array);
    const inits = new Map(graph.get(5)!.map((t) => fields(t as Uint8Array)).map((t) => [text(t.get(8)![0]), t]));
    for (const [name, p] of sm.model.namedParameters()) {
      if (name.startsWith("towers.imp")) continue;
      const t = inits.get(name)!;
      expect(t, name).toBeDefined();
      expect(t.get(1), name).toEqual(p.shape.map(BigInt));
      expect(t.get(2), name).toEqual([1n]); // FLOAT
      expect(Buffer.from(t.get(9)![0] as Uint8Array).equals(Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)), name).toBe(true);
    }
    // as pieces (what esmm export writes): the same bytes, the large parameters' pieces views of their arrays
    const parts = toOnnxParts(sm.model, sm.preprocessor, { producerVersion: "9.9.9" });
    expect(Buffer.concat(parts).equals(Buffer.from(toOnnx(sm.model, sm.preprocessor, { producerVersion: "9.9.9" })))).toBe(true);
    const [, big] = sm.model.namedParameters().reduce((a, b) => (b[1].size > a[1].size ? b : a));
    expect(big.size * 4).toBeGreaterThan(4096);
    expect(parts.some((b) => b.buffer === big.data.buffer && b.byteOffset === big.data.byteOffset && b.byteLength === big.data.byteLength)).toBe(true);
    const ops = graph.get(1)!.map((n) => text(fields(n as Uint8Array).get(4)![0]));
    expect(ops.filter((o) => o === "LabelEncoder").length).toBe(16); // 15 categorical columns and the bag
    expect(ops.filter((o) => o === "Gemm").length).toBe(2 * 2 + 2 + 2 * 2); // 2 experts of 2 layers, 2 gates, 2 towers of 2
    const meta = new Map(model.get(14)!.map((e) => fields(e as Uint8Array)).map((e) => [text(e.get(1)![0]), text(e.get(2)![0])]));
    expect(meta.get("esmm-ts.inputs")).toBe("tokens");
    expect(JSON.parse(meta.get("esmm-ts.preprocessor")!).schema.multi[0].name).toBe("recent_cats");
    // ids: no vocabulary in the graph, the preprocessing in the metadata instead
    const ids = fields(toOnnx(sm.model, sm.preprocessor, { inputs: "ids" }));
    expect(ids.get(8)!.length).toBe(1);
    expect(JSON.parse(new Map(ids.get(14)!.map((e) => fields(e as Uint8Array)).map((e) => [text(e.get(1)![0]), text(e.get(2)![0])])).get("esmm-ts.preprocessor")!).mappings.length).toBe(16);
  });

  it("ScoringModel.onnxInputs: the documented inputs, bags padded to the longest, records checked as score checks them", () => {
    const schema: Schema = { click: "click", conversion: "conversion", categorical: ["u"], multi: [{ name: "tags", pooling: "mean", sep: ";" }], dense: ["p"], user: null, truePctr: null, truePcvr: null };
    const pre = new Preprocessor(schema, [{ kind: "vocab", tokens: ["u1", "u2"] }, { kind: "vocab", tokens: ["t1", "t2", "t3"] }], [0], [1]);
    const sm = new ScoringModel(new Esmm({ preset: "esmm", fields: pre.fieldSpecs(), dense: ["p"], denseMean: [0], denseStd: [1], dim: 2 }), pre);
    const recs: FeatureRecord[] = [{ u: "u2", tags: "t1;t3:0.5", p: 2 }, { u: "zz", tags: "", p: "-0.25" }];
    const t = sm.onnxInputs(recs);
    expect(t.u).toEqual({ type: "string", dims: [2], data: ["u2", "zz"] });
    expect(t.tags).toEqual({ type: "string", dims: [2, 2], data: ["t1", "t3", "", ""] });
    expect(t["tags.weights"]).toEqual({ type: "float32", dims: [2, 2], data: Float32Array.from([1, 0.5, 0, 0]) });
    expect(t["tags.lengths"]).toEqual({ type: "int64", dims: [2], data: BigInt64Array.from([2n, 0n]) });
    expect(t.p).toEqual({ type: "float32", dims: [2], data: Float32Array.from([2, -0.25]) });
    const ids = sm.onnxInputs(recs, "ids");
    expect(ids.u!.data).toEqual(BigInt64Array.from([2n, 0n])); // u2 is the vocabulary's second token; zz unseen
    expect(ids.tags!.data).toEqual(BigInt64Array.from([1n, 3n, 0n, 0n]));
    expect(Object.keys(ids)).toEqual(["u", "tags", "tags.weights", "tags.lengths", "p"]);
    // 200,000 records: the longest bag is found without spreading the lengths into Math.max (a stack overflow)
    const many = sm.onnxInputs(Array.from({ length: 200_000 }, (_, i) => recs[i % 2]!));
    expect(many.tags!.dims).toEqual([200_000, 2]);
    expect(() => sm.onnxInputs([{ u: "u1", tags: "", p: "x" }])).toThrow('record 0: "p": dense feature must be a finite number, got "x"');
    const hashed = new ScoringModel(sm.model, new Preprocessor(schema, [{ kind: "hash", buckets: 2 }, { kind: "hash", buckets: 3 }], [0], [1]));
    expect(() => hashed.onnxInputs(recs, "tokens")).toThrow('inputs "tokens" needs vocabularies');
    expect(hashed.onnxInputs(recs).u!.type).toBe("int64");
  });

  it("a model of 2 GiB or more is refused (protobuf's limit), before anything is written", () => {
    // a stand-in with the sizes of 2^29 floats, rather than allocating them
    const model = new Esmm({ preset: "esmm", fields: [{ name: "a", vocab: 3 }], dim: 2 });
    const huge = Object.assign(Object.create(model) as Esmm, { namedParameters: () => [["embeddings.a.weight", { size: 2 ** 29, shape: [2 ** 28, 2] }]] });
    expect(() => toOnnx(huge)).toThrow("toOnnx: the parameters take 2.00 GiB, and an ONNX file holds under 2 GiB");
    expect(toOnnx(model)[0]).toBe(0x08); // the real sizes pass: the file opens with ir_version's key
  });

  it("a hashed checkpoint cannot take tokens (no ONNX operator hashes), and the CLI says so; --out onto a directory leaves it", async () => {
    const m = join(dir, "hashed-structure");
    expect(await main(["train", "--train", train, "--model", m, ...SMALL, "--hash-buckets", "100"], io)).toBe(0);
    const errs: string[] = [];
    const eio = { ...io, err: (s: string) => errs.push(s) };
    expect(await main(["export", "--model", m, "--out", join(dir, "h.onnx"), "--inputs", "tokens"], eio)).toBe(1);
    expect(errs.join("\n")).toContain('inputs "tokens" needs vocabularies, and this checkpoint hashes its ids (--hash-buckets)');
    expect(existsSync(join(dir, "h.onnx"))).toBe(false);
    expect(await main(["export", "--model", m, "--out", join(dir, "h.onnx")], eio)).toBe(0); // ids, chosen for it
    const target = join(dir, "a-directory");
    mkdirSync(join(target, "inside"), { recursive: true });
    expect(await main(["export", "--model", m, "--out", target], eio)).toBe(1);
    expect(existsSync(join(target, "inside"))).toBe(true);
    expect(await main(["export", "--model", m, "--out", join(dir, "x.onnx"), "--inputs", "strings"], eio)).toBe(2);
    expect(await main(["export", "--model", m, "--out", "-"], eio)).toBe(2); // not a file named "-"
    expect(errs.join("\n")).toContain("--out -: an ONNX file is binary and is written to a file, not to standard output; give a path");
  });
});
