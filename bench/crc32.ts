/**
 * The CRC-32 every checkpoint is summed with on saving and loading (942 MB for a model of 78.6M
 * parameters with Adam's state): `npm run build:bench && node build/bench/crc32.js [MB]` times
 * src/io/crc32.ts (slicing by 16, bytes read as 32-bit words) beside slicing by 8 with bytes read one
 * at a time (what it was before) on the same bytes, in one run, and checks that they agree.
 */
import { Bench } from "tinybench";
import { crc32, crc32Tables } from "../src/io/crc32.js";

// the reference: slicing by 8, bytes read one at a time
const T8 = crc32Tables(8);
function crc32by8(bytes: Uint8Array): number {
  const t = T8;
  let c = 0xffffffff;
  let i = 0;
  const n8 = bytes.length - (bytes.length % 8);
  for (; i < n8; i += 8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c = t[7 * 256 + (lo & 0xff)]! ^ t[6 * 256 + ((lo >>> 8) & 0xff)]! ^ t[5 * 256 + ((lo >>> 16) & 0xff)]! ^ t[4 * 256 + (lo >>> 24)]! ^ t[3 * 256 + bytes[i + 4]!]! ^ t[2 * 256 + bytes[i + 5]!]! ^ t[256 + bytes[i + 6]!]! ^ t[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const mb = Number(process.argv[2] ?? 64);
const bytes = new Uint8Array(mb * 1e6);
for (let i = 0; i < bytes.length; i++) bytes[i] = (Math.imul(i, 2654435761) >>> 13) & 0xff;
if (crc32(bytes) !== crc32by8(bytes)) throw new Error("the two CRC-32s disagree");
let sink = 0;
const bench = new Bench({ time: 2000, iterations: 5 });
bench.add("slicing by 16 (src/io/crc32.ts)", () => void (sink ^= crc32(bytes)));
bench.add("slicing by 8, bytes one at a time (before)", () => void (sink ^= crc32by8(bytes)));
await bench.run();
const p50 = (i: number): number => (bench.tasks[i]!.result as { latency: { p50: number } }).latency.p50;
for (const [i, t] of bench.tasks.entries()) console.log(`${t.name}: ${((mb * 1e6) / (p50(i) * 1e6)).toFixed(2)} GB/s (median of ${t.runs} runs over ${mb} MB)`);
console.log(`by 8 / by 16: ${(p50(1) / p50(0)).toFixed(2)}x the time`);
if (sink === 0.5) throw new Error("unreachable: keeps the sums from being optimised away");
