/**
 * The safetensors format, read and written here from its specification (no dependency):
 *
 *   [8 bytes: N, unsigned little-endian 64-bit] [N bytes: JSON header, UTF-8] [data bytes]
 *
 * The header maps each tensor name to { dtype, shape, data_offsets: [begin, end] } with offsets into
 * the data section, plus an optional "__metadata__" object of string -> string. Data is raw
 * little-endian and row-major; the tensors tile the data section without gaps or overlaps. We write
 * float32 ("F32") only, tensors sorted by name, the header padded with spaces to a multiple of 8 so
 * the data starts aligned.
 *
 * Every check a corrupted or truncated file can fail gives an error naming what is wrong.
 */
import { LITTLE_ENDIAN, concatBytes } from "./bytes.js";

/** A float32 tensor as a safetensors file holds it: its values, row-major, and its shape. */
export interface NamedArray {
  data: Float32Array;
  shape: readonly number[];
}

/** A decoded safetensors file: its tensors by name and its metadata. */
export interface Safetensors {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}


/**
 * A safetensors file as its pieces in file order: the length word and the header, then each tensor's
 * bytes. On a little-endian machine (every machine a browser or Node runs on in practice) a tensor's
 * piece is a view of its own array, not a copy, so a large model goes to disk without a second copy
 * of its weights in memory; written one after another, the pieces are the file encodeSafetensors
 * returns. The views see later writes to the arrays: write them out before the arrays change.
 */
export function safetensorsParts(tensors: ReadonlyMap<string, NamedArray>, metadata: Record<string, string> = {}): Uint8Array[] {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new Error('safetensors: "__metadata__" is not a tensor name');
    const t = tensors.get(name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`safetensors: "${name}" has ${t.data.length} values for shape [${t.shape.join(", ")}]`);
    header[name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  let hb = enc.encode(json);
  const pad = (8 - (hb.length % 8)) % 8;
  if (pad) {
    json += " ".repeat(pad);
    hb = enc.encode(json);
  }
  const head = new Uint8Array(8 + hb.length);
  new DataView(head.buffer).setUint32(0, hb.length, true); // the high 32 bits stay 0
  head.set(hb, 8);
  const parts: Uint8Array[] = [head];
  for (const name of names) {
    const d = tensors.get(name)!.data;
    if (LITTLE_ENDIAN) parts.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    else {
      const le = new Uint8Array(d.byteLength);
      const view = new DataView(le.buffer);
      for (let i = 0; i < d.length; i++) view.setFloat32(i * 4, d[i]!, true);
      parts.push(le);
    }
  }
  return parts;
}

/** Serialises float32 tensors (sorted by name) and optional string metadata, as one array of bytes. */
export function encodeSafetensors(tensors: ReadonlyMap<string, NamedArray>, metadata: Record<string, string> = {}): Uint8Array {
  return concatBytes(safetensorsParts(tensors, metadata));
}

/** One tensor's entry in a safetensors header: where its bytes lie in the data section. */
export interface SafetensorsEntry {
  name: string;
  shape: number[];
  /** Byte offsets into the data section, [begin, end). */
  begin: number;
  end: number;
}

/**
 * Reads and checks a safetensors header without touching (or allocating for) the data: every
 * entry's dtype, shape and offsets, and that the tensors tile the data section exactly. A caller
 * can hold the sizes against what it expects before allocating anything.
 */
export function readSafetensorsHeader(bytes: Uint8Array, what = "safetensors"): { entries: SafetensorsEntry[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (msg: string): never => {
    throw new Error(`${what}: ${msg}`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, not even the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  if (hi !== 0 || lo > bytes.length - 8) fail(`header length ${hi * 2 ** 32 + lo} exceeds the file (${bytes.length} bytes): truncated or not safetensors`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + lo)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) fail("header is not a JSON object");
  const dataStart = 8 + lo;
  const dataLen = bytes.length - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!v || typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) fail("__metadata__ must map strings to strings");
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== "object") fail(`entry "${name}" is not an object`);
    if (e.dtype !== "F32") fail(`tensor "${name}" has dtype ${JSON.stringify(e.dtype)}; only F32 is supported`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor "${name}" has an invalid shape`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isInteger(x) && x >= 0) || off[0] > off[1]) {
      fail(`tensor "${name}" has invalid data_offsets`);
    }
    const [b, en] = off as [number, number];
    if (en > dataLen) fail(`tensor "${name}" ends at byte ${en} of a ${dataLen}-byte data section: truncated`);
    const shape = e.shape as number[];
    const n = shape.reduce((a, c) => a * c, 1);
    if (en - b !== n * 4) fail(`tensor "${name}" spans ${en - b} bytes but shape [${shape.join(", ")}] needs ${n * 4}`);
    entries.push({ name, shape, begin: b, end: en });
  }
  const spans = [...entries].sort((x, y) => x.begin - y.begin || x.end - y.end);
  let at = 0;
  for (const { begin, end, name } of spans) {
    if (begin !== at) fail(begin < at ? `tensor "${name}" overlaps another` : `gap in the data section before tensor "${name}"`);
    at = end;
  }
  if (at !== dataLen) fail(`${dataLen - at} bytes after the last tensor: not a valid safetensors file`);
  return { entries, metadata, dataStart };
}

/**
 * Parses safetensors bytes; `what` names the file in errors. Only F32 tensors are accepted. Each
 * tensor is a copy, unless `{ views: true }`: then a tensor whose bytes lie 4-aligned in memory (on a
 * little-endian machine, as a file read whole gives them) is a view of `bytes` itself, which spares a
 * copy of the whole file when the caller copies the values onward anyway (loading a checkpoint).
 */
export function decodeSafetensors(bytes: Uint8Array, what = "safetensors", opts: { views?: boolean } = {}): Safetensors {
  const { entries, metadata, dataStart } = readSafetensorsHeader(bytes, what);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tensors = new Map<string, NamedArray>();
  for (const { name, shape, begin, end } of entries) {
    const n = (end - begin) / 4;
    const abs = dataStart + begin;
    let data: Float32Array;
    if (LITTLE_ENDIAN && opts.views && (bytes.byteOffset + abs) % 4 === 0) data = new Float32Array(bytes.buffer, bytes.byteOffset + abs, n);
    else {
      data = new Float32Array(n);
      if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(bytes.subarray(abs, abs + n * 4));
      else for (let i = 0; i < n; i++) data[i] = view.getFloat32(abs + i * 4, true);
    }
    tensors.set(name, { data, shape });
  }
  return { tensors, metadata };
}
