/**
 * Time and memory of loading a CSV into a Dataset (what `esmm train` does without --stream): `npm run
 * build:bench && node build/bench/load.js [rows] [--users N --apps N]` writes that many simulated
 * impressions (default 1,000,000; `--users` / `--apps` as `esmm generate` takes them, for
 * vocabularies of a real log's size) to a temporary file, then, in a child process of its own so that
 * its peak is its own, fits the vocabularies and loads the rows in one pass (`fitAndLoad`), and prints
 * the seconds and the peak resident set size beside the bytes the dataset's arrays hold: the ratio is
 * what the load costs over what it keeps.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../src/cli/main.js";
import { fitAndLoad, openSource } from "../src/node/index.js";

const child = process.argv.indexOf("--child");
if (child >= 0) {
  const path = process.argv[child + 1]!;
  const t0 = performance.now();
  const { data: ds } = await fitAndLoad(await openSource({ format: "csv", path }));
  // the dataset's typed arrays, its bags' included
  let bytes = 0;
  for (const v of Object.values(ds)) if (ArrayBuffer.isView(v)) bytes += v.byteLength;
  for (const g of ds.bags) bytes += g.offsets.byteLength + g.ids.byteLength + (g.weights?.byteLength ?? 0);
  console.log(JSON.stringify({ rows: ds.size, seconds: (performance.now() - t0) / 1e3, peakRssMB: process.resourceUsage().maxRSS / 1024, dataMB: bytes / 1e6 }));
} else {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const sizes = process.argv.slice(3); // --users N --apps N, handed to generate
  const dir = mkdtempSync(join(tmpdir(), "esmm-load-"));
  const csv = join(dir, "rows.csv");
  try {
    const io = { out: () => undefined, err: () => undefined, isTTY: false };
    if ((await main(["generate", "--rows", String(rows), ...sizes, "--out", csv], io)) !== 0) throw new Error("generate failed");
    const r = JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--child", csv], { encoding: "utf8" })) as { rows: number; seconds: number; peakRssMB: number; dataMB: number };
    console.log(`loaded ${r.rows.toLocaleString("en-US")} rows in ${r.seconds.toFixed(1)} s: peak RSS ${r.peakRssMB.toFixed(0)} MB, the dataset's arrays ${r.dataMB.toFixed(0)} MB (peak / data ${(r.peakRssMB / r.dataMB).toFixed(2)}x)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
