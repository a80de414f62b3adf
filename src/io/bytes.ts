/** Byte helpers the file formats share (safetensors, ONNX, CRC-32). */

/** Whether this machine stores numbers little-endian, as every format written here does (every machine a browser or Node runs on in practice). */
export const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** The pieces of a file, joined into one array of bytes. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}
