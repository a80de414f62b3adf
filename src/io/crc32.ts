/**
 * CRC-32 (the polynomial of zlib, gzip and PNG: reflected 0xEDB88320), so a checkpoint's checksums
 * can be checked with any standard tool (Python's zlib.crc32, `gzip -l`, ...). Computed "slicing by
 * 8": eight 256-entry tables let the loop fold eight bytes per step instead of one, about 4x faster
 * in V8 than the textbook byte loop. It catches corruption (a flipped byte, a truncated file); it
 * is not a defence against someone who edits a file and recomputes the sum.
 */
const TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  // table s gives the CRC of a byte followed by s zero bytes
  for (let s = 1; s < 8; s++) for (let n = 0; n < 256; n++) t[s * 256 + n] = (t[(s - 1) * 256 + n]! >>> 8) ^ t[t[(s - 1) * 256 + n]! & 0xff]!;
  return t;
})();

/** CRC-32 of the bytes, continuing from `crc` (0 to start); an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n8 = bytes.length - (bytes.length % 8);
  for (; i < n8; i += 8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c =
      t[7 * 256 + (lo & 0xff)]! ^
      t[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      t[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      t[4 * 256 + (lo >>> 24)]! ^
      t[3 * 256 + bytes[i + 4]!]! ^
      t[2 * 256 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The CRC-32 as the 8 hex digits a checkpoint stores: of a text (as UTF-8), of bytes, or of a file's pieces in order (as if joined). */
export function crc32Hex(bytes: Uint8Array | string | readonly Uint8Array[]): string {
  let c = 0;
  if (typeof bytes === "string") c = crc32(new TextEncoder().encode(bytes));
  else if (bytes instanceof Uint8Array) c = crc32(bytes);
  else for (const part of bytes) c = crc32(part, c);
  return c.toString(16).padStart(8, "0");
}
