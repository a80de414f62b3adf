/**
 * A WebAssembly module builder: just enough of the binary format (WebAssembly Core Specification,
 * "Binary Format", plus the fixed-width SIMD proposal's 0xFD opcodes) to emit our kernels as bytes
 * from TypeScript, with no toolchain and no binary blob in the repository.
 *
 * A module is a magic number, a version, and sections in a fixed order, each a one-byte id and its
 * byte length (LEB128) followed by its contents:
 *   1 type      function signatures
 *   2 import    here only the linear memory, imported from JS as env.memory (JS owns and grows it)
 *   3 function  each defined function's type index
 *   7 export    names for the functions
 *  10 code      each function's locals and instruction bytes
 *
 * Instructions are written through `Fn`, one method per instruction group; structured control flow
 * (block / loop / if) takes a callback for its body, so branch depths are counted by the builder.
 */

/** Value types, as the binary format encodes them. */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof I64 | typeof F32 | typeof F64 | typeof V128;

/** Unsigned LEB128: 7 bits per byte, low bits first, the high bit set on every byte but the last. */
export function uleb(n: number, out: number[] = []): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`uleb: ${n} is not a non-negative integer`);
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** Signed LEB128 (two's complement): stops once the remaining bits are all copies of the sign bit. */
export function sleb(n: number, out: number[] = []): number[] {
  if (!Number.isInteger(n)) throw new Error(`sleb: ${n} is not an integer`);
  for (;;) {
    const byte = n & 0x7f;
    n = Math.floor(n / 128);
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function utf8(s: string): number[] {
  const b = new TextEncoder().encode(s);
  return [...uleb(b.length), ...b];
}

/** SIMD opcodes used here (after the 0xFD prefix), from the fixed-width SIMD specification. */
export const SIMD = {
  "v128.load": 0x00,
  "v128.load32_splat": 0x09,
  "v128.store": 0x0b,
  "v128.const": 0x0c,
  "f32x4.splat": 0x13,
  "i32x4.extract_lane": 0x1b,
  "f32x4.extract_lane": 0x1f,
  "f32x4.replace_lane": 0x20,
  "f64x2.extract_lane": 0x21,
  "f32x4.eq": 0x41,
  "f32x4.ne": 0x42,
  "f32x4.lt": 0x43,
  "f32x4.gt": 0x44,
  "v128.not": 0x4d,
  "v128.and": 0x4e,
  "v128.or": 0x50,
  "v128.xor": 0x51,
  "v128.bitselect": 0x52,
  "f64x2.splat": 0x14,
  "f32x4.demote_f64x2_zero": 0x5e,
  "f64x2.promote_low_f32x4": 0x5f,
  "f32x4.abs": 0xe0,
  "f32x4.neg": 0xe1,
  "f32x4.sqrt": 0xe3,
  "f32x4.add": 0xe4,
  "f32x4.sub": 0xe5,
  "f32x4.mul": 0xe6,
  "f32x4.div": 0xe7,
  "f32x4.min": 0xe8,
  "f32x4.max": 0xe9,
  "f32x4.pmin": 0xea,
  "f32x4.pmax": 0xeb,
  "i32x4.add": 0xae,
  "i32x4.sub": 0xb1,
  "f64x2.add": 0xf0,
  "f64x2.sub": 0xf1,
  "f64x2.mul": 0xf2,
  "f64x2.div": 0xf3,
  "f64x2.sqrt": 0xef,
  /** relaxed SIMD: a * b + c, fused or not as the CPU has it (opt-in only) */
  "f32x4.relaxed_madd": 0x105,
} as const;
export type SimdOp = keyof typeof SIMD;

/** Plain (non-SIMD) opcodes used here, by their text-format names. */
export const OP = {
  unreachable: 0x00,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  return: 0x0f,
  drop: 0x1a,
  select: 0x1b,
  "local.get": 0x20,
  "local.set": 0x21,
  "local.tee": 0x22,
  "i32.load": 0x28,
  "f32.load": 0x2a,
  "f64.load": 0x2b,
  "i32.store": 0x36,
  "f32.store": 0x38,
  "f64.store": 0x39,
  "memory.size": 0x3f,
  "i32.const": 0x41,
  "f32.const": 0x43,
  "f64.const": 0x44,
  "i32.eqz": 0x45,
  "i32.eq": 0x46,
  "i32.ne": 0x47,
  "i32.lt_s": 0x48,
  "i32.lt_u": 0x49,
  "i32.gt_s": 0x4a,
  "i32.gt_u": 0x4b,
  "i32.le_s": 0x4c,
  "i32.ge_s": 0x4e,
  "f32.gt": 0x5e,
  "f64.gt": 0x64,
  "i32.add": 0x6a,
  "i32.sub": 0x6b,
  "i32.mul": 0x6c,
  "i32.and": 0x71,
  "i32.or": 0x72,
  "i32.shl": 0x74,
  "i32.shr_u": 0x76,
  "f32.abs": 0x8b,
  "f32.neg": 0x8c,
  "f32.sqrt": 0x91,
  "f32.add": 0x92,
  "f32.sub": 0x93,
  "f32.mul": 0x94,
  "f32.div": 0x95,
  "f32.max": 0x97,
  "f64.abs": 0x99,
  "f64.sqrt": 0x9f,
  "f64.add": 0xa0,
  "f64.sub": 0xa1,
  "f64.mul": 0xa2,
  "f64.div": 0xa3,
  "f32.demote_f64": 0xb6,
  "f64.promote_f32": 0xbb,
} as const;
export type PlainOp = keyof typeof OP;

/** Natural alignment (log2 bytes) of each memory access, the default memarg. */
const ALIGN: Record<string, number> = { "i32.load": 2, "f32.load": 2, "f64.load": 3, "i32.store": 2, "f32.store": 2, "f64.store": 3, "v128.load": 4, "v128.store": 4, "v128.load32_splat": 2 };

/** The SIMD instructions whose immediate is a lane index (one byte). */
const LANE_OPS = new Set<SimdOp>(["i32x4.extract_lane", "f32x4.extract_lane", "f32x4.replace_lane", "f64x2.extract_lane"]);

/** One function's body, written instruction by instruction. */
export class Fn {
  readonly code: number[] = [];
  private readonly extra: ValType[] = [];
  private depth = 0;

  constructor(readonly name: string, readonly params: readonly ValType[], readonly results: readonly ValType[] = []) {}

  /** A fresh local of type t; returns its index (parameters come first). */
  local(t: ValType): number {
    this.extra.push(t);
    return this.params.length + this.extra.length - 1;
  }

  /** Any plain instruction with no immediate. */
  op(name: PlainOp): this {
    this.code.push(OP[name]);
    return this;
  }

  get(i: number): this {
    this.code.push(OP["local.get"], ...uleb(i));
    return this;
  }
  set(i: number): this {
    this.code.push(OP["local.set"], ...uleb(i));
    return this;
  }
  tee(i: number): this {
    this.code.push(OP["local.tee"], ...uleb(i));
    return this;
  }
  i32(v: number): this {
    this.code.push(OP["i32.const"], ...sleb(v | 0));
    return this;
  }
  f32(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    this.code.push(OP["f32.const"], ...b);
    return this;
  }
  f64(v: number): this {
    const b = new Uint8Array(new Float64Array([v]).buffer);
    this.code.push(OP["f64.const"], ...b);
    return this;
  }

  /** A load or store: the address (and for a store, the value) is on the stack; `offset` is a constant byte offset. */
  mem(name: "i32.load" | "f32.load" | "f64.load" | "i32.store" | "f32.store" | "f64.store", offset = 0): this {
    this.code.push(OP[name], ...uleb(ALIGN[name]!), ...uleb(offset));
    return this;
  }

  /** A SIMD instruction; loads and stores take a byte offset, lane ops a lane index. */
  simd(name: SimdOp, imm?: number): this {
    this.code.push(0xfd, ...uleb(SIMD[name]));
    if (name === "v128.load" || name === "v128.store" || name === "v128.load32_splat") this.code.push(...uleb(ALIGN[name]!), ...uleb(imm ?? 0));
    else if (LANE_OPS.has(name)) this.code.push(imm ?? 0);
    else if (imm !== undefined) throw new Error(`${name} takes no immediate`);
    return this;
  }

  /** memory.fill (bulk memory, 0xFC 11): sets `size` bytes at `dest` to `value`; the stack holds dest, value, size (i32s). */
  memoryFill(): this {
    this.code.push(0xfc, ...uleb(11), 0x00); // 0x00: memory 0
    return this;
  }

  /** i8x16.shuffle of the two v128 on the stack: byte i of the result is byte lanes[i] of (a ++ b). */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => !(l >= 0 && l < 32))) throw new Error("shuffle: 16 byte lanes in [0, 32)");
    this.code.push(0xfd, ...uleb(0x0d), ...lanes);
    return this;
  }

  /** v128.const of four equal f32 lanes. */
  v128f32(v: number): this {
    this.code.push(0xfd, ...uleb(SIMD["v128.const"]), ...new Uint8Array(new Float32Array([v, v, v, v]).buffer));
    return this;
  }

  /** block ... end: `br(0)` inside jumps past its end. */
  block(body: () => void): this {
    return this.structured(OP.block, body);
  }
  /** loop ... end: `br(0)` inside jumps back to its start. */
  loop(body: () => void): this {
    return this.structured(OP.loop, body);
  }
  /** if ... (else ...) end, on the i32 condition on the stack; with `result`, both arms leave one value of that type. */
  if(then: () => void, otherwise?: () => void, result?: ValType): this {
    this.code.push(OP.if, result ?? 0x40);
    this.depth++;
    then();
    if (otherwise) {
      this.code.push(OP.else);
      otherwise();
    }
    this.code.push(OP.end);
    this.depth--;
    return this;
  }
  br(depth: number): this {
    this.code.push(OP.br, ...uleb(depth));
    return this;
  }
  brIf(depth: number): this {
    this.code.push(OP.br_if, ...uleb(depth));
    return this;
  }

  private structured(opcode: number, body: () => void): this {
    this.code.push(opcode, 0x40); // 0x40: the block yields no value
    this.depth++;
    body();
    this.code.push(OP.end);
    this.depth--;
    return this;
  }

  /**
   * for (i = start; i < end; i += step) body, with i an i32 local; `start` and `end` push an i32.
   * Written as block { loop { if !(i < end) break; body; i += step; continue } }.
   */
  for(i: number, start: () => void, end: () => void, step: number, body: () => void): this {
    start();
    this.set(i);
    return this.block(() =>
      this.loop(() => {
        this.get(i);
        end();
        this.op("i32.ge_s").brIf(1);
        body();
        this.get(i).i32(step).op("i32.add").set(i).br(0);
      }),
    );
  }

  /** The function's code-section entry: locals (run-length grouped by type), body, end. */
  encode(): number[] {
    if (this.depth !== 0) throw new Error(`${this.name}: unbalanced blocks`);
    const groups: Array<[number, ValType]> = [];
    for (const t of this.extra) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n), t]), ...this.code, OP.end];
    return [...uleb(body.length), ...body];
  }
}

/** The module: functions that all see one imported memory, each exported under its name. */
export class ModuleBuilder {
  private readonly fns: Fn[] = [];

  constructor(private readonly memory: { initialPages: number; shared?: boolean; maximumPages?: number } = { initialPages: 1 }) {}

  fn(name: string, params: readonly ValType[], results: readonly ValType[], body: (f: Fn) => void): this {
    const f = new Fn(name, params, results);
    body(f);
    this.fns.push(f);
    return this;
  }

  toBytes(): Uint8Array<ArrayBuffer> {
    const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
    const sigs: string[] = [];
    const typeOf = this.fns.map((f) => {
      const key = `${f.params.join(",")}->${f.results.join(",")}`;
      let i = sigs.indexOf(key);
      if (i < 0) i = sigs.push(key) - 1;
      return i;
    });
    const types = sigs.flatMap((_, i) => {
      const f = this.fns[typeOf.indexOf(i)]!;
      return [0x60, ...uleb(f.params.length), ...f.params, ...uleb(f.results.length), ...f.results];
    });
    const m = this.memory;
    // limits: 0x00 min | 0x01 min max | 0x03 min max shared (threads proposal)
    const limits = m.shared ? [0x03, ...uleb(m.initialPages), ...uleb(m.maximumPages ?? 65536)] : m.maximumPages !== undefined ? [0x01, ...uleb(m.initialPages), ...uleb(m.maximumPages)] : [0x00, ...uleb(m.initialPages)];
    const imports = [...uleb(1), ...utf8("env"), ...utf8("memory"), 0x02, ...limits];
    const exports = [...uleb(this.fns.length), ...this.fns.flatMap((f, i) => [...utf8(f.name), 0x00, ...uleb(i)])];
    // the custom "name" section, subsection 1 (function names): profilers and stack traces then show
    // "kernelRows" where they would show "wasm-function[3]"; an engine may ignore it
    const functionNames = [...uleb(this.fns.length), ...this.fns.flatMap((f, i) => [...uleb(i), ...utf8(f.name)])];
    const names = [...utf8("name"), 0x01, ...uleb(functionNames.length), ...functionNames];
    return Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, // "\0asm"
      0x01, 0x00, 0x00, 0x00, // version 1
      ...section(1, [...uleb(sigs.length), ...types]),
      ...section(2, imports),
      ...section(3, [...uleb(this.fns.length), ...typeOf.flatMap((t) => uleb(t))]),
      ...section(7, exports),
      ...section(10, [...uleb(this.fns.length), ...this.fns.flatMap((f) => f.encode())]),
      ...section(0, names), // custom sections may follow the others
    ]);
  }
}
