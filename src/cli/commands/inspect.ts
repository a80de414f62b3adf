/** `esmm inspect`: a checkpoint's config, parameter counts, training record and gate usage (text, or --json). Returns normally on success and throws on failure (see main.ts). */
import { gateUsage } from "../../index.js";
import { loadCheckpoint, loadDataset } from "../../node/index.js";
import { need, str, type Parsed } from "../args.js";
import { dataOptions, sourceFor } from "../shared.js";
import type { Command, Io } from "../io.js";

async function inspectCommand(p: Parsed, io: Io): Promise<void> {
  const dir = need(p, "model");
  const ck = await loadCheckpoint(dir, { optimizer: false });
  const m = ck.model;
  const c = m.config;
  const lines: string[] = [];
  lines.push(`${dir}: ${m.name} (bottom ${c.bottom}, objective ${c.objective}), checkpoint format version ${ck.json.formatVersion}`);
  if (c.objective.startsWith("escm2")) lines.push(`counterfactual: propensity clip ${c.counterfactual.clip}, ${c.counterfactual.normalize ? "self-normalised" : "divided by the batch size"}`);
  lines.push(`embedding init: ${c.embeddingInit.kind}:${c.embeddingInit.std}`);
  lines.push(`fields (${c.fields.length}, D = ${c.dim}): ${c.fields.map((f) => `${f.name}${f.kind === "multi" ? "[bag]" : ""}(${f.vocab})`).join(", ")}`);
  if (c.dense.length) lines.push(`dense features: ${c.dense.join(", ")}`);
  // a std far below what float32 can tell apart at the column's mean: the rounding noise that training
  // before 2026-12-07 took for the spread of a constant column (see VocabBuilder.finish)
  c.dense.forEach((name, j) => {
    const [mean, std] = [c.denseMean[j]!, c.denseStd[j]!];
    if (std < 1e-6 * Math.abs(mean)) lines.push(`warning: dense feature "${name}" is standardised by a std of ${std.toExponential(2)} against a mean of ${mean.toPrecision(4)}, below float32's resolution there: the rounding noise of a column that was constant in training. Any other value of it reads as a huge input; retrain (training now leaves such a column unscaled)`);
  });
  const imp = m.towers.imp ? " (and escm2-dr's imputation tower)" : "";
  // a tower from its input: the experts' mix (mmoe), or the layers of the task's MLP before it
  const sizes = (h: number[]): string => [...(m.gates ? c.experts.hidden.slice(-1) : c.experts.hidden), ...h, 1].join(" -> ");
  const same = c.towers.cvr.length === c.towers.hidden.length && c.towers.cvr.every((x, i) => x === c.towers.hidden[i]);
  const towers = same ? `[${sizes(c.towers.hidden)}]` : `CTR [${sizes(c.towers.hidden)}], CVR [${sizes(c.towers.cvr)}]`;
  if (m.gates) lines.push(`experts: ${c.experts.count} x [${c.experts.hidden.join(" -> ")}] (share ${c.experts.share}, gate prior ${c.experts.gatePrior}), gates per task, towers ${towers}${imp}`);
  else lines.push(`towers: CTR and CVR MLPs ${towers}${imp}${c.bottom === "separate" ? ", each on its own embeddings" : ""}`);
  const groups = new Map<string, number>();
  for (const [name, t] of m.namedParameters()) {
    const g = name.split(".")[0]!;
    groups.set(g, (groups.get(g) ?? 0) + t.size);
  }
  lines.push(`parameters: ${m.parameterCount().toLocaleString("en-US")} (${[...groups].map(([g, n]) => `${g} ${n.toLocaleString("en-US")}`).join(", ")})`);
  const tr = ck.json.training ?? {};
  if (tr.epochsDone !== undefined) lines.push(`trained: ${String(tr.epochsDone)} epoch(s), seed ${String(tr.seed)}, batch ${String(tr.batch)}, lr ${String(tr.lr)}`);
  const world = tr.simulated as Record<string, number> | undefined; // checked as the checkpoint loaded (simulatorOptionsFromJSON)
  if (world) lines.push(`trained on simulated data (esmm generate): world seed ${world.seed}, ${world.users} users, ${world.apps} apps, ctr ${world.ctr}, cvr ${world.cvr}, bias ${world.bias}; esmm abtest plays this world`);
  let usage = (tr.gateUsage as { ctr: number[]; cvr: number[] } | undefined) ?? null;
  let where = "validation data at training";
  const dataPath = str(p, "data");
  if (dataPath && !m.gates) io.err(`warning: --data has no effect: it measures gate usage, and ${m.name} has no gates (only an mmoe bottom has them)`);
  if (dataPath && m.gates) {
    const { src, pre } = await sourceFor(p, dataPath, ck, true);
    usage = gateUsage(m, await loadDataset(src, pre));
    where = dataPath;
  }
  if (p.json) {
    io.out(JSON.stringify({ model: dir, variant: m.name, bottom: c.bottom, objective: c.objective, formatVersion: ck.json.formatVersion, config: c, parameters: m.parameterCount(), parameterGroups: Object.fromEntries(groups), training: { ...tr, history: undefined }, gateUsage: m.gates ? { source: usage ? where : null, ...(usage ?? {}) } : null }, null, 2));
    return;
  }
  if (m.gates) {
    if (usage) {
      lines.push(`gate usage (mean weight on each expert, ${where}):`);
      for (const t of ["ctr", "cvr"] as const) lines.push(`  ${t.toUpperCase()} task: ${usage[t].map((v, e) => `expert ${e} ${(v * 100).toFixed(1)}%`).join(", ")}`);
    } else lines.push("gate usage: unknown (train with --valid, or pass --data)");
  }
  io.out(lines.join("\n"));
}

export const command: Command = {
  name: "inspect",
  summary: "a checkpoint's config, parameter count and gate usage (text, or --json)",
  usage: "esmm inspect --model DIR [--data FILE] [--json]",
  options: {
      model: { type: "string", help: "checkpoint directory (required)" },
      json: { type: "flag", help: "print config, parameter counts, training record and gate usage as one JSON object" },
      data: { type: "string", help: "measure gate usage on this file (default: the usage saved at training)" },
      ...dataOptions(),
    },
  run: inspectCommand,
};
