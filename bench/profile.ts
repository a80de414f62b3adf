/**
 * Where a training step's time goes: `npm run profile` runs 20 steps of the reference workload (bench
 * size, the default backend, in a step arena as train() runs them) under V8's sampling profiler
 * (node --cpu-prof), then prints self time by function, as a share of the time spent inside the steps
 * (building the model and its batches is left out).
 * `ESMM_BACKEND=ts npm run profile` for another backend.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Adam, Arena } from "../src/index.js";
import { randomBatches, referenceModel, timedStep } from "./workload.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

function summarize(dir: string): void {
  const file = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort().at(-1);
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const prof = JSON.parse(readFileSync(join(dir, file), "utf8")) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** Whether the sampled frame runs inside a step: timedStep is among its callers. */
  const inStep = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) if (byId.get(at)!.callFrame.functionName === "timedStep") return true;
    return false;
  };
  const self = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    if (!inStep(id)) return;
    const n = byId.get(id)!;
    const dt = prof.timeDeltas[i] ?? 0;
    const url = n.callFrame.url.split("/").slice(-2).join("/");
    // the wasm backend's functions carry their names (the module's name section): marked as wasm
    const wasm = n.callFrame.url.startsWith("wasm://") || /^wasm-function\[/.test(n.callFrame.functionName);
    const key = wasm ? `${n.callFrame.functionName} (wasm)` : `${n.callFrame.functionName || "(anonymous)"} ${url}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
  for (const [k, v] of rows) console.log(`${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
}

const i = process.argv.indexOf("--summarize");
if (i >= 0) summarize(process.argv[i + 1]!);
else {
  if (process.env.ESMM_BACKEND) (await import("../src/index.js")).useBackend(process.env.ESMM_BACKEND as "naive" | "ts" | "wasm");
  const model = referenceModel(10_000);
  const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
  const batches = randomBatches(10_000, 4);
  const arena = new Arena(); // as train() runs its steps
  for (let s = 0; s < 20; s++) timedStep(model, opt, batches[s % 4]!, arena);
}
