/**
 * Time and memory of saving a large checkpoint (what `esmm train` does after each epoch): `npm run
 * build:bench && node build/bench/save.js [millions of parameters, default 40]` builds a model whose
 * embedding tables hold about that many parameters, gives Adam a full state (two moments per
 * parameter), and saves it twice, each in a child process of its own so that each peak is its own:
 *
 *   pieces  saveCheckpoint: the safetensors files written from the arrays themselves
 *   copy    checkpointFiles (each file copied into one buffer, as saving did before) and the same
 *           atomic directory write
 *
 * It prints the seconds and how far the resident set size rose, while saving, above what the model
 * and the optimizer already held, and checks that both wrote the same bytes. (The children run with
 * glibc's MALLOC_MMAP_THRESHOLD_ fixed, so that freed arrays go back to the system at once and a
 * copy cannot hide in pages an earlier array left behind.)
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Adam, Esmm, Rng, checkpointFiles, type AdamParamState } from "../src/index.js";
import { saveCheckpoint, writeDirAtomic } from "../src/node/index.js";

function bigModel(millions: number): { model: Esmm; opt: Adam } {
  const perField = Math.round((millions * 1e6) / (8 * 16)); // 8 fields of D = 16
  const model = new Esmm({ fields: Array.from({ length: 8 }, (_, i) => ({ name: `f${i}`, vocab: perField })), dim: 16, seed: 1 });
  const rng = new Rng(2);
  const state = new Map<string, AdamParamState>();
  for (const [name, p] of model.namedParameters()) {
    const m = new Float32Array(p.size);
    const v = new Float32Array(p.size);
    for (let i = 0; i < p.size; i++) {
      m[i] = rng.normal() * 1e-3;
      v[i] = Math.abs(rng.normal()) * 1e-6;
    }
    state.set(name, { step: 7, m, v });
  }
  const opt = new Adam(model.namedParameters());
  opt.loadStateDict(state);
  return { model, opt };
}

const child = process.argv.indexOf("--child");
if (child >= 0) {
  const [how, millions, dir] = process.argv.slice(child + 1) as [string, string, string];
  const { model, opt } = bigModel(Number(millions));
  // the draws' temporaries are freed before the baseline is read (V8 frees large buffers on a
  // background thread, so wait for it, or their return would hide part of the rise)
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 200));
  }
  const before = process.memoryUsage().rss;
  let peak = before;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5); // runs while the files are written
  const t0 = performance.now();
  if (how === "pieces") await saveCheckpoint(dir, model, { optimizer: opt });
  else await writeDirAtomic(dir, checkpointFiles(model, { training: {}, optimizer: opt }));
  const seconds = (performance.now() - t0) / 1e3;
  clearInterval(sample);
  const params = model.namedParameters().reduce((n, [, p]) => n + p.size, 0);
  console.log(JSON.stringify({ seconds, params, riseMB: (peak - before) / 1e6 }));
} else {
  const millions = process.argv[2] ?? "40";
  const root = mkdtempSync(join(tmpdir(), "esmm-save-"));
  try {
    const run = (how: string) => JSON.parse(execFileSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--child", how, millions, join(root, how)], { encoding: "utf8", env: { ...process.env, MALLOC_MMAP_THRESHOLD_: "131072" } })) as { seconds: number; params: number; riseMB: number };
    const pieces = run("pieces");
    const copy = run("copy");
    for (const f of ["model.json", "weights.safetensors", "optimizer.safetensors"]) {
      if (!readFileSync(join(root, "pieces", f)).equals(readFileSync(join(root, "copy", f)))) throw new Error(`${f} differs between the two ways of saving`);
    }
    console.log(`saving ${(pieces.params / 1e6).toFixed(1)}M parameters with Adam's state (same bytes both ways):`);
    console.log(`  pieces (saveCheckpoint)  ${pieces.seconds.toFixed(2)} s, peak RSS +${pieces.riseMB.toFixed(0)} MB`);
    console.log(`  one copied buffer        ${copy.seconds.toFixed(2)} s, peak RSS +${copy.riseMB.toFixed(0)} MB`);
    console.log(`  copy / pieces            ${(copy.seconds / pieces.seconds).toFixed(2)}x the time`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
