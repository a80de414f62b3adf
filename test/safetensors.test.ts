import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Esmm, Preprocessor, Rng, checkpointFiles, checkpointParts, crc32, crc32Hex, decodeSafetensors, encodeSafetensors, encodeWeights, loadWeights, modelFromCheckpoint, modelJsonOf, safetensorsParts, type Mapping, type Schema } from "../src/index.js";

describe("safetensors", () => {
  it("writes the layout of the spec: u64 header length, JSON header, raw little-endian data", () => {
    const bytes = encodeSafetensors(new Map([["b", { data: Float32Array.of(1.5), shape: [1] }], ["a", { data: Float32Array.of(-2, 0.25), shape: [2, 1] }]]));
    const view = new DataView(bytes.buffer);
    const n = view.getUint32(0, true);
    expect(view.getUint32(4, true)).toBe(0);
    expect((8 + n) % 8).toBe(0); // data starts aligned
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({
      a: { dtype: "F32", shape: [2, 1], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
    });
    // -2 as float32 little-endian is 00 00 00 c0
    expect(Array.from(bytes.subarray(8 + n, 12 + n))).toEqual([0, 0, 0, 0xc0]);
    expect(bytes.length).toBe(8 + n + 12);
  });

  it("round-trips values, shapes and metadata bit for bit", () => {
    const rng = new Rng(1);
    const t = new Map([
      ["embeddings.user.weight", { data: Float32Array.from({ length: 60 }, () => rng.normal()), shape: [20, 3] }],
      ["empty", { data: new Float32Array(0), shape: [0, 4] }],
    ]);
    const back = decodeSafetensors(encodeSafetensors(t, { producer: "test" }));
    expect(back.metadata).toEqual({ producer: "test" });
    for (const [k, v] of t) {
      expect(back.tensors.get(k)!.shape).toEqual(v.shape);
      expect(Array.from(back.tensors.get(k)!.data)).toEqual(Array.from(v.data));
    }
  });

  it("as pieces: the header, then views of the arrays themselves, which join into the same file", () => {
    const a = Float32Array.of(-2, 0.25);
    const t = new Map([["b", { data: Float32Array.of(1.5), shape: [1] }], ["a", { data: a, shape: [2, 1] }]]);
    const whole = encodeSafetensors(t, { producer: "test" });
    const parts = safetensorsParts(t, { producer: "test" });
    expect(parts).toHaveLength(3);
    expect(parts[1]!.buffer).toBe(a.buffer); // a view, not a copy
    const joined = Uint8Array.from(parts.flatMap((p) => Array.from(p)));
    expect(joined).toEqual(whole);
    expect(crc32Hex(parts)).toBe(crc32Hex(whole));
    expect(crc32Hex([whole.subarray(0, 5), new Uint8Array(0), whole.subarray(5)])).toBe(crc32Hex(whole));
    a[0] = 7; // the views see later writes: pieces must be written before the arrays change
    expect(new Float32Array(parts[1]!.slice().buffer)[0]).toBe(7);
  });

  it("decodes into copies, or with { views: true } into views of the bytes where they lie aligned", () => {
    const t = new Map([["a", { data: Float32Array.of(-2, 0.25, 3), shape: [3] }], ["b", { data: Float32Array.of(1.5), shape: [1] }]]);
    const bytes = encodeSafetensors(t);
    const copied = decodeSafetensors(bytes).tensors.get("a")!.data;
    const viewed = decodeSafetensors(bytes, "st", { views: true }).tensors.get("a")!.data;
    expect(Array.from(viewed)).toEqual([-2, 0.25, 3]);
    expect(viewed.buffer).toBe(bytes.buffer);
    expect(copied.buffer).not.toBe(bytes.buffer);
    // the same file one byte into a buffer: no aligned view exists, so the values are copied out
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const odd = decodeSafetensors(shifted.subarray(1), "st", { views: true }).tensors;
    expect(odd.get("a")!.data.buffer).not.toBe(shifted.buffer);
    expect(Array.from(odd.get("a")!.data)).toEqual([-2, 0.25, 3]);
    expect(Array.from(odd.get("b")!.data)).toEqual([1.5]);
  });

  it("every truncation is a clear error", () => {
    const bytes = encodeSafetensors(new Map([["w", { data: new Float32Array(10).fill(1), shape: [10] }]]));
    for (let len = 0; len < bytes.length; len++) {
      expect(() => decodeSafetensors(bytes.subarray(0, len), "w.st")).toThrow(/^w\.st: /);
    }
  });

  it("rejects wrong dtypes, bad offsets, gaps and overlaps", () => {
    const make = (header: object, dataBytes: number): Uint8Array => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(8 + h.length + dataBytes);
      new DataView(out.buffer).setUint32(0, h.length, true);
      out.set(h, 8);
      return out;
    };
    expect(() => decodeSafetensors(make({ x: { dtype: "F16", shape: [2], data_offsets: [0, 4] } }, 4))).toThrow(/only F32/);
    expect(() => decodeSafetensors(make({ x: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, 4))).toThrow(/spans 4 bytes but shape \[2\] needs 8/);
    expect(() => decodeSafetensors(make({ x: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8))).toThrow(/gap in the data section/);
    expect(() => decodeSafetensors(make({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, y: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8))).toThrow(/overlaps/);
    expect(() => decodeSafetensors(make({ x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 8))).toThrow(/4 bytes after the last tensor/);
    expect(() => decodeSafetensors(make([1, 2], 0))).toThrow(/not a JSON object/);
  });
});


describe("weights into a model", () => {
  const cfg = { fields: [{ name: "a", vocab: 5 }, { name: "b", vocab: 3 }], dim: 4, experts: { count: 2, hidden: [6] }, towers: { hidden: [3] } };

  it("round-trips through bytes, as a browser loads a fetched checkpoint", () => {
    const m = new Esmm(cfg);
    const { model } = modelFromCheckpoint(modelJsonOf(m), encodeWeights(m));
    for (const [n, p] of m.namedParameters()) expect(Array.from(model.namedParameters().find(([k]) => k === n)![1].data)).toEqual(Array.from(p.data));
  });

  it("model.json is the text a reader's parse gives back, with checksums of exactly what it parses", () => {
    // the writer serialises once; the second implementation here normalises through a parse first,
    // as the writer did before, on values where a parse could differ: -0, tiny and long floats,
    // "__proto__", a lone surrogate, a token with quotes and a newline, integer-like object keys
    const schema: Schema = { click: "click", conversion: "conversion", categorical: ["a", "b"], multi: [], dense: ["x"], user: null, truePctr: null, truePcvr: null };
    const mappings: Mapping[] = [{ kind: "vocab", tokens: ["__proto__", "\ud800", 'say "hi"\n', "007", "-0"] }, { kind: "vocab", tokens: ["2", "10", "1"] }];
    const pre = new Preprocessor(schema, mappings, [-0], [1.747316032582309e-8]);
    const m = new Esmm({ fields: pre.fieldSpecs(), dense: ["x"], denseMean: pre.denseMean, denseStd: pre.denseStd, dim: 2, experts: { hidden: [3] }, towers: { hidden: [2] } });
    const training = { seed: 1, "10": "ten", "2": [-0, 0.1 + 0.2, 1e-310, undefined], note: undefined, lr: 1e-3 };
    const text = modelJsonOf(m, { preprocessor: pre.toJSON(), training });
    const j = JSON.parse(JSON.stringify({ format: CHECKPOINT_FORMAT, formatVersion: CHECKPOINT_VERSION, config: m.config, preprocessor: pre.toJSON(), training }));
    j.checksums = { content: crc32Hex(JSON.stringify([j.config, j.preprocessor, j.training])), "weights.safetensors": crc32Hex(encodeWeights(m)) };
    expect(text).toBe(JSON.stringify(j, null, 2) + "\n");
    const back = modelFromCheckpoint(text, encodeWeights(m));
    expect(back.preprocessor!.toJSON()).toEqual(j.preprocessor); // -0 comes back as 0, as JSON has it
    // the pieces saving writes hold the same bytes, and model.json the same checksums, as the copies
    const parts = checkpointParts(m, { preprocessor: pre.toJSON(), training });
    const files = checkpointFiles(m, { preprocessor: pre.toJSON(), training });
    expect(parts["model.json"]).toBe(files["model.json"]);
    expect(Uint8Array.from((parts["weights.safetensors"] as Uint8Array[]).flatMap((p) => Array.from(p)))).toEqual(files["weights.safetensors"]);
  });

  it("format 4 on stores a vocabulary as one string of lines; the same ids come back, and arrays (format 3) still load", () => {
    const schema: Schema = { click: "click", conversion: "conversion", categorical: ["a", "b", "c", "d", "e"], multi: [], dense: [], user: null, truePctr: null, truePcvr: null };
    const mappings: Mapping[] = [
      { kind: "vocab", tokens: ["7", "", "\ud800", 'say "hi"', "x\ry", "007"] }, // an empty token, a lone surrogate, quotes, a carriage return
      { kind: "vocab", tokens: ["one\ntwo", "three"] }, // a line feed in a token: stays an array
      { kind: "vocab", tokens: [] }, // no tokens: stays an array (one empty line would be one empty token)
      { kind: "vocab", tokens: [""] },
      { kind: "hash", buckets: 5 },
    ];
    const pre = new Preprocessor(schema, mappings, [], []);
    const m = new Esmm({ fields: pre.fieldSpecs(), dim: 2, experts: { hidden: [3] }, towers: { hidden: [2] } });
    const stored = pre.toCheckpointJSON() as { mappings: unknown[] };
    expect(stored.mappings).toEqual([{ kind: "vocab", tokenLines: '7\n\n\ud800\nsay "hi"\nx\ry\n007' }, mappings[1], mappings[2], { kind: "vocab", tokenLines: "" }, mappings[4]]);
    for (const form of [pre.toCheckpointJSON(), pre.toJSON()]) {
      const text = modelJsonOf(m, { preprocessor: form });
      expect(JSON.parse(text).formatVersion).toBe(CHECKPOINT_VERSION);
      const back = modelFromCheckpoint(text, encodeWeights(m)).preprocessor!;
      expect(back.toJSON()).toEqual(pre.toJSON());
      for (const [f, t] of [[0, "7"], [0, ""], [0, "\ud800"], [0, "007"], [0, "7 "], [1, "one\ntwo"], [1, "one"], [3, ""], [4, "q"]] as const) expect(back.maps[f]!.id(t), `${f} ${t}`).toBe(pre.maps[f]!.id(t));
    }
    // a crafted tokenLines is held against the model's table before any lookup is built
    const text = modelJsonOf(m, { preprocessor: pre.toCheckpointJSON() });
    const j = JSON.parse(text);
    j.preprocessor.mappings[0].tokenLines += "\nextra";
    j.checksums.content = crc32Hex(JSON.stringify([j.config, j.preprocessor, j.training ?? null]));
    expect(() => modelFromCheckpoint(JSON.stringify(j), encodeWeights(m))).toThrow('checkpoint/model.json: preprocessor.mappings[0]: maps column "a" to 8 ids, the model\'s field 0 is "a" with 7 rows');
    j.preprocessor.mappings[0] = { kind: "vocab", tokenLines: 7 };
    j.checksums.content = crc32Hex(JSON.stringify([j.config, j.preprocessor, j.training ?? null]));
    expect(() => modelFromCheckpoint(JSON.stringify(j), encodeWeights(m))).toThrow("preprocessor.mappings[0].tokenLines: must be a string, got 7");
  });

  it("names a shape mismatch, a missing and an unexpected tensor", () => {
    const wide = new Esmm({ ...cfg, dim: 8 });
    expect(() => loadWeights(new Esmm(cfg), encodeWeights(wide), "w.st")).toThrow('w.st: tensor "embeddings.a.weight" has shape [5, 8], the model expects [5, 4]');
    const other = new Esmm({ ...cfg, fields: [{ name: "a", vocab: 5 }, { name: "c", vocab: 3 }] });
    expect(() => loadWeights(new Esmm(cfg), encodeWeights(other), "w.st")).toThrow('w.st: unexpected tensor "embeddings.c.weight" (not a parameter of this model)');
    const { tensors } = decodeSafetensors(encodeWeights(new Esmm(cfg)));
    tensors.delete("gates.cvr.bias");
    expect(() => loadWeights(new Esmm(cfg), encodeSafetensors(tensors), "w.st")).toThrow('w.st: missing tensor "gates.cvr.bias"');
  });
});

describe("CRC-32", () => {
  // the textbook loop, one byte at a time, as the second implementation
  const byteLoop = (b: Uint8Array): number => {
    let c = 0xffffffff;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return ~c >>> 0;
  };

  it("gives the standard check value and gzip's own sum, at every alignment and length", () => {
    expect(crc32Hex("123456789")).toBe("cbf43926"); // the CRC-32 check value
    expect(crc32(new Uint8Array(0))).toBe(0);
    const rng = new Rng(3);
    const buf = Uint8Array.from({ length: 4096 + 64 }, () => Math.floor(rng.uniform() * 256));
    for (let start = 0; start < 8; start++) {
      for (const len of [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 4096]) {
        const b = buf.subarray(start, start + len);
        expect(crc32(b), `offset ${start}, length ${len}`).toBe(byteLoop(b));
      }
    }
    // zlib computes the sum a gzip file ends with (its last 8 bytes: CRC-32, then the length)
    const data = buf.subarray(5);
    const gz = gzipSync(data);
    expect(crc32(data)).toBe(new DataView(gz.buffer, gz.byteOffset + gz.length - 8, 4).getUint32(0, true));
    // continued over pieces, as a file written in pieces is summed
    expect(crc32(data.subarray(7), crc32(data.subarray(0, 7)))).toBe(crc32(data));
  });
});
