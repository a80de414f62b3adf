/**
 * A trained model as an ONNX file, for serving it where JavaScript does not run (onnxruntime in C++,
 * Java, Python, C#, ...). The file holds the whole scoring path of `ScoringModel.score`, apart from
 * parsing text: the vocabularies (as ai.onnx.ml LabelEncoder nodes), the embedding lookups, bag
 * pooling, the dense features' standardisation, the bottom (mmoe, shared or separate), the towers and
 * pCTCVR = pCTR x pCVR. Browser-safe: it returns bytes.
 *
 * Inputs, one per column of the training data (per field, named as the field, for a model built in
 * code without a preprocessor), N rows (ONNX dims "N", "L_<column>"):
 * - a categorical column `c`: [N] strings, the cell's text (`inputs: "tokens"`, the default where
 *   every field has a vocabulary), or [N] int64 ids (`inputs: "ids"`, and always for a hashed
 *   checkpoint: the FNV-1a hash of src/data/schema.ts has no ONNX operator); an unseen token maps to
 *   the out-of-vocabulary row 0, as in `ScoringModel`;
 * - a multi-valued column `c`: `c` [N, L] tokens (or ids) padded to a common length L, `c.weights`
 *   [N, L] float (1 where the data gave no ":weight") and `c.lengths` [N] int64, the number of ids of
 *   each row; entries past a row's length are ignored, whatever they hold;
 * - a dense column `c`: [N] float, the raw value (standardised inside the graph).
 * Outputs: `pctr`, `pcvr`, `pctcvr` [N] float, and for the mmoe bottom `gates_ctr`, `gates_cvr`
 * [N, E]. escm2-dr's imputation tower is left out: only its loss reads it.
 *
 * The writer below is a small Protocol Buffers encoder (varints, length-delimited fields, fixed32)
 * and the message numbers of onnx.proto; the graph uses opset 13 of the default domain and opset 2
 * of ai.onnx.ml. The exported model computes what `Esmm.predict` computes, in another order of
 * additions: test/onnx.test.ts runs it in onnxruntime against `ScoringModel` within float32 rounding.
 */
import type { Esmm } from "../esmm/index.js";
import { FieldMap, type Preprocessor, type RawRow } from "../data/index.js";
import type { Tensor } from "../tensor/index.js";
import type { Linear, Mlp } from "../layers/index.js";
import { LITTLE_ENDIAN, concatBytes } from "./bytes.js";

// ---------------------------------------------------------------------------------------------
// Protocol Buffers: a message is a sequence of fields, each a key (field number << 3 | wire type)
// and a payload: a varint (type 0), 8 bytes (1), a length and that many bytes (2), or 4 bytes (5).

const VARINT = 0;
const LEN = 2;
const FIXED32 = 5;
const utf8 = new TextEncoder();

/** One protobuf message being written, field by field. */
class Message {
  // Small writes (keys, varints, short strings) go into `cur`, grown by doubling up to 64 KiB; large
  // payloads (a tensor's bytes) and nested messages' chunks are kept as they are, so that a weight
  // is copied once, by finish(), however deep it sits. (One growing buffer copied them at every
  // level: 1.8x the time and 400 MB more memory for a 404 MB model.)
  private readonly parts: Uint8Array[] = [];
  private sealed = 0;
  private cur = new Uint8Array(256);
  private at = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.sealed + this.at;
  }

  /** Moves what `cur` holds into the parts. */
  private seal(): void {
    if (this.at === 0) return;
    this.parts.push(this.cur.subarray(0, this.at));
    this.sealed += this.at;
    this.cur = new Uint8Array(Math.min(this.cur.length * 2, 1 << 16));
    this.at = 0;
  }

  private room(n: number): void {
    if (this.at + n <= this.cur.length) return;
    if (this.at + n <= 1 << 16) {
      const grown = new Uint8Array(Math.min(Math.max(this.cur.length * 2, this.at + n), 1 << 16));
      grown.set(this.cur.subarray(0, this.at));
      this.cur = grown;
    } else this.seal();
  }

  private push(b: Uint8Array): void {
    if (b.length > 4096) {
      this.seal();
      this.parts.push(b);
      this.sealed += b.length;
      return;
    }
    this.room(b.length);
    this.cur.set(b, this.at);
    this.at += b.length;
  }

  /** A varint: 7 bits a byte, low bits first, the top bit set on every byte but the last; a negative int64 as its 64-bit two's complement (10 bytes). */
  private varint(v: number | bigint): void {
    this.room(10);
    if (typeof v === "number" && v >= 0 && v < 2 ** 31) {
      // the common case (keys, lengths, ids) without BigInt, which took most of the time of a large vocabulary
      let x = v;
      while (x >= 0x80) {
        this.cur[this.at++] = (x & 0x7f) | 0x80;
        x >>>= 7;
      }
      this.cur[this.at++] = x;
      return;
    }
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.cur[this.at++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.cur[this.at++] = Number(x);
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** An int64, int32 or enum field. */
  int(field: number, v: number | bigint): this {
    this.key(field, VARINT);
    this.varint(v);
    return this;
  }

  /** A float field (fixed32, little-endian). */
  float(field: number, v: number): this {
    this.key(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  /** A bytes field. */
  bytes(field: number, b: Uint8Array): this {
    this.key(field, LEN);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  /** A string field, UTF-8. */
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /** A message field: a small one copied in, a large one's chunks taken over as they are. */
  message(field: number, m: Message): this {
    if (m.length <= 4096) return this.bytes(field, m.finish());
    this.key(field, LEN);
    this.varint(m.length);
    m.seal();
    this.seal();
    for (const p of m.parts) this.parts.push(p); // a loop: spreading thousands of parts into push can overflow the stack
    this.sealed += m.sealed;
    return this;
  }

  /** A repeated int64 field, packed (one length-delimited run of varints). */
  packedInts(field: number, vs: ArrayLike<number>): this {
    const inner = new Message();
    for (let i = 0; i < vs.length; i++) inner.varint(vs[i]!);
    return this.bytes(field, inner.finish());
  }

  /** The message's bytes as its pieces, in order (large byte fields are the arrays they were given). */
  pieces(): Uint8Array[] {
    this.seal();
    return this.parts;
  }

  /** The message's bytes, in one array. */
  finish(): Uint8Array {
    return concatBytes(this.pieces());
  }
}

// onnx.proto's field numbers, by message
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 };
const GRAPH = { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 };
const ATTR = { name: 1, f: 2, i: 3, ints: 8, strings: 9, type: 20 };
const ATTR_TYPE = { FLOAT: 1, INT: 2, INTS: 7, STRINGS: 8 };
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 };
/** TensorProto.DataType. */
const DT = { FLOAT: 1, INT64: 7, STRING: 8, DOUBLE: 11 } as const;
type DataType = (typeof DT)[keyof typeof DT];

/** An attribute of a node: an int, a float, a list of ints or a list of strings. */
type Attr = { name: string } & ({ i: number } | { f: number } | { ints: ArrayLike<number> } | { strings: readonly string[] });

function attribute(a: Attr): Message {
  const m = new Message().string(ATTR.name, a.name);
  if ("i" in a) return m.int(ATTR.type, ATTR_TYPE.INT).int(ATTR.i, a.i);
  if ("f" in a) return m.int(ATTR.type, ATTR_TYPE.FLOAT).float(ATTR.f, a.f);
  if ("ints" in a) return m.int(ATTR.type, ATTR_TYPE.INTS).packedInts(ATTR.ints, a.ints);
  m.int(ATTR.type, ATTR_TYPE.STRINGS);
  for (const s of a.strings) m.string(ATTR.strings, s);
  return m;
}

/** A dimension: a size, or a name shared by the inputs and outputs that have it ("N"). */
type Dim = number | string;

/** A ValueInfoProto: a graph input's or output's name, element type and shape. */
function valueInfo(name: string, type: DataType, dims: readonly Dim[]): Message {
  const shape = new Message();
  for (const d of dims) shape.message(1, typeof d === "number" ? new Message().int(1, d) : new Message().string(2, d));
  const tensorType = new Message().int(1, type).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

/** A graph being built: nodes in order (each output a fresh name unless given), constants as initializers. */
class Graph {
  readonly nodes: Message[] = [];
  readonly initializers: Message[] = [];
  readonly inputs: Message[] = [];
  readonly outputs: Message[] = [];
  private count = 0;
  private readonly written = new Set<Tensor>();

  /** `params`: the model's parameters by tensor, with their checkpoint names (`towers.ctr.0.weight`). */
  constructor(private readonly params: ReadonlyMap<Tensor, string>) {}

  /** A parameter as an initializer under its checkpoint name, written once however often it is read. */
  param(t: Tensor): string {
    const name = this.params.get(t);
    if (name === undefined) throw new Error("toOnnx: a tensor that is not one of the model's parameters");
    if (!this.written.has(t)) {
      this.written.add(t);
      // the parameter's own bytes where they are little-endian already: a view, not a copy
      if (LITTLE_ENDIAN) this.constant(name, t.shape, DT.FLOAT, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      else this.floats(name, t.shape, t.data);
    }
    return name;
  }

  /** Adds a node; returns its output's name. */
  node(op: string, inputs: readonly string[], attrs: readonly Attr[] = [], out?: string, domain = ""): string {
    const name = out ?? `/${op.toLowerCase()}_${this.count}`;
    const m = new Message();
    for (const i of inputs) m.string(NODE.input, i);
    m.string(NODE.output, name).string(NODE.name, `${op}_${this.count++}`).string(NODE.opType, op);
    for (const a of attrs) m.message(NODE.attribute, attribute(a));
    if (domain) m.string(NODE.domain, domain);
    this.nodes.push(m);
    return name;
  }

  /** A float32 constant (a parameter or a statistic), stored little-endian. */
  floats(name: string, dims: readonly number[], data: ArrayLike<number>): string {
    const raw = new Uint8Array(data.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
    return this.constant(name, dims, DT.FLOAT, raw);
  }

  /** A float64 constant, stored little-endian. */
  doubles(name: string, dims: readonly number[], data: ArrayLike<number>): string {
    const raw = new Uint8Array(data.length * 8);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat64(i * 8, data[i]!, true);
    return this.constant(name, dims, DT.DOUBLE, raw);
  }

  /** An int64 constant (axes, indices, bounds); `dims` [] for a scalar. */
  ints(dims: readonly number[], data: readonly number[]): string {
    const raw = new Uint8Array(data.length * 8);
    const view = new DataView(raw.buffer);
    data.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    return this.constant(`/const_${this.count++}`, dims, DT.INT64, raw);
  }

  private constant(name: string, dims: readonly number[], type: DataType, raw: Uint8Array): string {
    const t = new Message();
    for (const d of dims) t.int(TENSOR.dims, d);
    this.initializers.push(t.int(TENSOR.dataType, type).string(TENSOR.name, name).bytes(TENSOR.rawData, raw));
    return name;
  }
}

// ---------------------------------------------------------------------------------------------
// The model as a graph

/** Options of `toOnnx`. */
export interface OnnxOptions {
  /** The version the file names its producer (esmm-ts) by; the CLI passes the package's. */
  producerVersion?: string;
  /** What a categorical input holds: the cell's text ("tokens", mapped by the vocabularies inside the graph) or the ids the preprocessing made ("ids"). Default "tokens" where every field has a vocabulary, else "ids". */
  inputs?: "tokens" | "ids";
}

/** Whole numbers in [0, 2^31) as int64s: each written as its two 32-bit halves (one BigInt per value cost about as much as the rest of the inputs together). */
function int64s(n: number, value: (i: number) => number): BigInt64Array {
  const out = new BigInt64Array(n);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < n; i++) out[i] = BigInt(value(i));
    return out;
  }
  const halves = new Int32Array(out.buffer);
  for (let i = 0; i < n; i++) halves[2 * i] = value(i); // the high half stays 0
  return out;
}

/** The default kind of categorical input of `toOnnx` and `onnxInputsOf`: tokens where every field has a vocabulary, else ids. */
export function defaultInputs(pre: Preprocessor | null): "tokens" | "ids" {
  return pre && pre.mappings.every((m) => m.kind === "vocab") ? "tokens" : "ids";
}

/** One input of an exported file, as plain arrays: wrap each in the runtime's tensor (`new ort.Tensor(type, data, dims)`). */
export interface OnnxInput {
  type: "string" | "int64" | "float32";
  dims: number[];
  data: string[] | BigInt64Array | Float32Array;
}

/**
 * The inputs of `toOnnx(model, pre, { inputs })` for rows as the readers make them (ScoringModel's
 * `onnxInputs` makes them from records): by name, each bag padded to its longest row.
 */
export function onnxInputsOf(pre: Preprocessor, rows: readonly RawRow[], inputs: "tokens" | "ids" = defaultInputs(pre)): Record<string, OnnxInput> {
  if (inputs === "tokens" && defaultInputs(pre) === "ids") throw new Error('onnxInputs: inputs "tokens" needs vocabularies, and this checkpoint hashes its ids');
  const s = pre.schema;
  const N = rows.length;
  const maps = pre.mappings.map((m) => new FieldMap(m));
  const categorical = (tokens: string[], field: number, dims: number[]): OnnxInput =>
    inputs === "tokens" ? { type: "string", dims, data: tokens } : { type: "int64", dims, data: int64s(tokens.length, (i) => maps[field]!.id(tokens[i]!)) };
  const out: Record<string, OnnxInput> = {};
  s.categorical.forEach((c, i) => (out[c] = categorical(rows.map((r) => r.singles[i]!), i, [N])));
  s.multi.forEach((m, k) => {
    const bags = rows.map((r) => r.multis[k]!);
    // at least 1: a zero-length dimension is legal, but not every runtime takes one (and no spread of
    // the lengths into Math.max, which overflows the stack at a few hundred thousand rows)
    const L = bags.reduce((l, b) => Math.max(l, b.tokens.length), 1);
    const tokens: string[] = [];
    const weights = new Float32Array(N * L);
    bags.forEach((b, i) => {
      for (let j = 0; j < L; j++) {
        tokens.push(b.tokens[j] ?? "");
        weights[i * L + j] = j < b.tokens.length ? (b.weights?.[j] ?? 1) : 0;
      }
    });
    out[m.name] = categorical(tokens, s.categorical.length + k, [N, L]);
    out[`${m.name}.weights`] = { type: "float32", dims: [N, L], data: weights };
    out[`${m.name}.lengths`] = { type: "int64", dims: [N], data: int64s(N, (i) => bags[i]!.tokens.length) };
  });
  s.dense.forEach((c, j) => (out[c] = { type: "float32", dims: [N], data: Float32Array.from(rows, (r) => r.dense[j]!) }));
  return out;
}

const OPSET = 13;
const ML_OPSET = 2;
const IR_VERSION = 7; // the IR version of opset 13

/**
 * Writes a model as an ONNX file (see the top of this file for its inputs and outputs). With the
 * preprocessing it was trained with (a checkpoint's), the inputs are named after the data's columns
 * and may be tokens; without it (a model built in code), they are the fields' names and take ids.
 * Throws where the model cannot be written so: "tokens" for hashed ids or without a preprocessor.
 */
export function toOnnx(model: Esmm, pre: Preprocessor | null = null, opts: OnnxOptions = {}): Uint8Array {
  return concatBytes(toOnnxParts(model, pre, opts));
}

/**
 * The file `toOnnx` writes, as its pieces in order: the parameters' pieces are views of the model's
 * own arrays (on a little-endian machine), so a large model is written out (`esmm export`) without a
 * copy of its weights in memory. Write them before the model changes.
 */
export function toOnnxParts(model: Esmm, pre: Preprocessor | null = null, opts: OnnxOptions = {}): Uint8Array[] {
  const cfg = model.config;
  if (pre) {
    const specs = pre.fieldSpecs();
    if (specs.length !== cfg.fields.length || specs.some((f, i) => f.name !== cfg.fields[i]!.name || f.kind !== (cfg.fields[i]!.kind ?? "single"))) throw new Error("toOnnx: the preprocessor's columns are not this model's fields");
  }
  const mode = opts.inputs ?? defaultInputs(pre);
  if (mode === "tokens" && defaultInputs(pre) === "ids") throw new Error(pre ? 'toOnnx: inputs "tokens" needs vocabularies, and this checkpoint hashes its ids (--hash-buckets); export with inputs "ids" and hash the tokens as src/data/schema.ts does' : 'toOnnx: inputs "tokens" needs the preprocessor (the vocabularies) the model was trained with');
  const params = model.namedParameters();
  // protobuf readers refuse a message of 2 GiB or more (ONNX's way past that, weights in files of their own, is not written here)
  const paramBytes = params.reduce((n, [, t]) => n + t.size * 4, 0);
  if (paramBytes >= 2 ** 31 - 2 ** 26) throw new Error(`toOnnx: the parameters take ${(paramBytes / 2 ** 30).toFixed(2)} GiB, and an ONNX file holds under 2 GiB (external data is not written); score this model with esmm-ts`);
  const g = new Graph(new Map(params.map(([name, t]) => [t, name])));
  const declared = new Set<string>();
  const input = (name: string, type: DataType, dims: Dim[]): string => {
    if (declared.has(name)) throw new Error(`toOnnx: two inputs would be named "${name}"; rename the column`);
    declared.add(name);
    g.inputs.push(valueInfo(name, type, dims));
    return name;
  };
  const catType = mode === "tokens" ? DT.STRING : DT.INT64;
  // the model's fields in the order of the preprocessor's columns and mappings (fieldSpecs: single-valued, then bags)
  const single = cfg.fields.flatMap((f, i) => ((f.kind ?? "single") === "single" ? [i] : []));
  const multi = cfg.fields.flatMap((f, i) => (f.kind === "multi" ? [i] : []));
  const columns = pre ? [...pre.schema.categorical, ...pre.schema.multi.map((m) => m.name)] : cfg.fields.map((f) => f.name);
  const column = (i: number): string => columns[i]!;
  // field i's input -> its ids [N] or [N, L]: through its vocabulary in the graph, or given as ids
  const idsOf = (value: string, i: number): string => {
    const m = pre?.mappings[i];
    if (mode === "ids" || !m || m.kind !== "vocab") return value;
    const ids = Array.from({ length: m.tokens.length }, (_, t) => t + 1);
    return g.node("LabelEncoder", [value], [{ name: "keys_strings", strings: m.tokens }, { name: "values_int64s", ints: ids }, { name: "default_int64", i: 0 }], undefined, "ai.onnx.ml");
  };
  const axis1 = g.ints([1], [1]); // the axes input of Unsqueeze and Squeeze
  const singles = single.map((i) => ({ field: i, ids: idsOf(input(column(i), catType, ["N"]), i) }));
  const bags = multi.map((i) => {
    const c = column(i);
    const L = `L_${c}`;
    return {
      field: i,
      ids: idsOf(input(c, catType, ["N", L]), i),
      weights: input(`${c}.weights`, DT.FLOAT, ["N", L]),
      lengths: input(`${c}.lengths`, DT.INT64, ["N"]),
      pooling: cfg.fields[i]!.pooling ?? "mean",
    };
  });
  const dense = (pre ? pre.schema.dense : cfg.dense).map((c) => g.node("Unsqueeze", [input(c, DT.FLOAT, ["N"]), axis1]));
  // each bag's coefficients [N, L]: its weights where the row has an id, 0 past its length, / length for mean
  const zero = bags.length ? g.ints([], [0]) : "";
  const one = bags.length ? g.ints([], [1]) : "";
  const oneF = bags.some((b) => b.pooling === "mean") ? g.floats("/one_f", [], [1]) : "";
  const coefs = bags.map((b) => {
    const L = g.node("Gather", [g.node("Shape", [b.ids]), one], [{ name: "axis", i: 0 }]);
    const inRow = g.node("Less", [g.node("Range", [zero, L, one]), g.node("Unsqueeze", [b.lengths, axis1])]);
    let coef = g.node("Mul", [b.weights, g.node("Cast", [inRow], [{ name: "to", i: DT.FLOAT }])]);
    if (b.pooling === "mean") {
      const count = g.node("Max", [g.node("Cast", [b.lengths], [{ name: "to", i: DT.FLOAT }]), oneF]);
      coef = g.node("Div", [coef, g.node("Unsqueeze", [count, axis1])]);
    }
    return coef;
  });
  // standardised as the model does it, with the statistics in its config: (v - mean) / std in float64,
  // rounded to float32 once, which is what FieldEmbeddings computes, so these inputs are the same bits
  let standardised: string | null = null;
  if (dense.length > 0) {
    const x = g.node("Cast", [dense.length === 1 ? dense[0]! : g.node("Concat", dense, [{ name: "axis", i: 1 }])], [{ name: "to", i: DT.DOUBLE }]);
    const z = g.node("Div", [g.node("Sub", [x, g.doubles("/dense_mean", [dense.length], cfg.denseMean)]), g.doubles("/dense_std", [dense.length], cfg.denseStd)]);
    standardised = g.node("Cast", [z], [{ name: "to", i: DT.FLOAT }]);
  }
  // x = [single fields' embeddings | pooled bags | standardised dense], as FieldEmbeddings.embed builds it
  const inputRow = (tables: readonly Tensor[]): string => {
    const parts = singles.map((s) => g.node("Gather", [g.param(tables[s.field]!), s.ids], [{ name: "axis", i: 0 }]));
    bags.forEach((b, k) => {
      const rows = g.node("Gather", [g.param(tables[b.field]!), b.ids], [{ name: "axis", i: 0 }]); // [N, L, D]
      parts.push(g.node("Squeeze", [g.node("MatMul", [g.node("Unsqueeze", [coefs[k]!, axis1]), rows]), axis1])); // [N, 1, L] x [N, L, D] -> [N, D]
    });
    if (standardised) parts.push(standardised);
    return parts.length === 1 ? parts[0]! : g.node("Concat", parts, [{ name: "axis", i: 1 }]);
  };
  const x = inputRow(model.inputs.tables.map((t) => t.weight));
  const linear = (layer: Linear, h: string): string => g.node("Gemm", [h, g.param(layer.weight), ...(layer.bias ? [g.param(layer.bias)] : [])], [{ name: "transB", i: 1 }]); // h W^T + b, W [out, in]
  const mlp = (net: Mlp, h: string): string => {
    net.layers.forEach((layer, l) => {
      h = linear(layer, h);
      if (l < net.layers.length - 1 || net.activateLast) h = g.node("Relu", [h]);
    });
    return h;
  };
  let hCtr = x;
  let hCvr = model.cvrInputs ? inputRow(model.cvrInputs.tables.map((t) => t.weight)) : x;
  const E = cfg.experts.count;
  if (model.gates) {
    // the experts stacked [N, E, H]; each task's gate [N, 1, E] times them: sum_e g[:, e] h_e
    const stacked = g.node("Concat", model.experts.map((e) => g.node("Unsqueeze", [mlp(e, x), axis1])), [{ name: "axis", i: 1 }]);
    const gates = (["ctr", "cvr"] as const).map((t) => g.node("Softmax", [linear(model.gates![t].linear, x)], [{ name: "axis", i: 1 }], `gates_${t}`));
    [hCtr, hCvr] = gates.map((gt) => g.node("Squeeze", [g.node("MatMul", [g.node("Unsqueeze", [gt, axis1]), stacked]), axis1]));
  }
  const prob = (t: "ctr" | "cvr", h: string): string => g.node("Squeeze", [g.node("Sigmoid", [mlp(model.towers[t], h)]), axis1], [], `p${t}`);
  const pctr = prob("ctr", hCtr);
  const pcvr = prob("cvr", hCvr);
  g.node("Mul", [pctr, pcvr], [], "pctcvr");
  for (const o of ["pctr", "pcvr", "pctcvr"]) g.outputs.push(valueInfo(o, DT.FLOAT, ["N"]));
  if (model.gates) for (const t of ["ctr", "cvr"]) g.outputs.push(valueInfo(`gates_${t}`, DT.FLOAT, ["N", E]));

  const graph = new Message();
  for (const n of g.nodes) graph.message(GRAPH.node, n);
  graph.string(GRAPH.name, model.name);
  for (const t of g.initializers) graph.message(GRAPH.initializer, t);
  graph.string(GRAPH.docString, `esmm-ts ${model.name}: pCTR, pCVR and pCTCVR of each row; categorical inputs are ${mode === "tokens" ? "the cells' text" : "the preprocessing's ids"}, a bag is its ids [N, L] with .weights [N, L] and .lengths [N], a dense input its raw value`);
  for (const i of g.inputs) graph.message(GRAPH.input, i);
  for (const o of g.outputs) graph.message(GRAPH.output, o);
  const meta = (key: string, value: string): Message => new Message().string(1, key).string(2, value);
  const onnx = new Message().int(MODEL.irVersion, IR_VERSION).string(MODEL.producerName, "esmm-ts");
  if (opts.producerVersion) onnx.string(MODEL.producerVersion, opts.producerVersion);
  onnx.string(MODEL.docString, `${model.name} (bottom ${cfg.bottom}, objective ${cfg.objective}), exported by esmm-ts`).message(MODEL.graph, graph);
  onnx.message(MODEL.opsetImport, new Message().string(1, "").int(2, OPSET));
  if (mode === "tokens") onnx.message(MODEL.opsetImport, new Message().string(1, "ai.onnx.ml").int(2, ML_OPSET));
  onnx.message(MODEL.metadataProps, meta("esmm-ts.model", model.name)).message(MODEL.metadataProps, meta("esmm-ts.inputs", mode));
  // the preprocessing, so that a runtime elsewhere can turn raw rows into the inputs (with "ids", the vocabularies or the hash)
  if (pre) onnx.message(MODEL.metadataProps, meta("esmm-ts.preprocessor", JSON.stringify(mode === "ids" ? pre.toJSON() : { schema: pre.schema })));
  return onnx.pieces();
}
