import { describe, expect, it } from "vitest";
import { Esmm, Rng, decodeSafetensors, encodeSafetensors, encodeWeights, loadWeights, modelFromCheckpoint, modelJsonOf } from "../src/index.js";

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
