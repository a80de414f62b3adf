/** `esmm predict`: scores per row, in row order, to a CSV file or standard output (--keep copies key columns). Returns normally on success and throws on failure (see main.ts). */
import { csvCell, nonFiniteScore } from "../../index.js";
import { workerFactory } from "../../esmm/parallel.js";
import type { RawRow } from "../../data/index.js";
import { emptyStats, openAtomicWriter, sameFile, scoreSource } from "../../node/index.js";
import { UsageError, list, need, str, type Parsed } from "../args.js";
import { dataOptions, modelAndSource, dataWorldWarning, reportStats, reportUnseen, threadsOf } from "../shared.js";
import type { Command, Io } from "../io.js";
import { UnseenCounts } from "../../index.js";

async function predictCommand(p: Parsed, io: Io): Promise<void> {
  const path = need(p, "data");
  const out = need(p, "out");
  const keep = list(p, "keep");
  const format = str(p, "format");
  if (keep && format && format !== "csv" && format !== "aliccp-csv" && format !== "aliexpress") throw new UsageError(`--keep needs a CSV format, not ${format}`);
  const threads = threadsOf(p); // checked before anything is read
  // the scores would replace the very rows they score (the rename is atomic, the data gone all the same)
  for (const input of [path, str(p, "common")]) if (input && out !== "-" && (await sameFile(out, input))) throw new UsageError(`--out ${out} is the input file ${input}; refusing to replace the data with its scores`);
  const { ck, src, pre } = await modelAndSource(p, path, true, keep);
  const otherWorld = dataWorldWarning(p, path, ck);
  if (otherWorld) io.err(`warning: ${otherWorld}`);
  const model = ck.model;
  const E = model.gates ? model.config.experts.count : 0;
  const gates = p.gates === true && E > 0;
  if (p.gates && E === 0) throw new UsageError(`--gates: the ${model.name} model has no gates (only an mmoe bottom has them)`);
  const workers = threads > 1 ? await workerFactory()(model, threads - 1) : null;
  // "-" writes to standard output (and every message to standard error); else a file, atomically
  const toStdout = out === "-";
  const w = toStdout ? { write: async (s: string) => io.out(s.endsWith("\n") ? s.slice(0, -1) : s), close: async () => undefined, abort: async () => undefined } : await openAtomicWriter(out);
  const stats = emptyStats();
  const unseen = UnseenCounts.of(pre); // each column's share of values never seen in training
  let n = 0;
  try {
    const head = [...(keep ?? []), "pctr", "pcvr", "pctcvr"];
    if (gates) for (const t of ["ctr", "cvr"]) for (let e = 0; e < E; e++) head.push(`gate_${t}_${e}`);
    await w.write(head.map((h) => csvCell(h)).join(",") + "\n");
    // each batch's scores, in row order, scored here or on a worker (the same bits either way)
    const row = keep ? (r: RawRow): string[] => r.kept ?? [] : undefined;
    await scoreSource(model, src, pre, { workers, stats, ...(row ? { row } : {}) }, (b, cells) => (unseen.add(b), keep ? cells : null), async (s, kept) => {
      const bad = nonFiniteScore(s);
      if (bad) throw new Error(`${path}: the model scores ${bad.count} value(s) of ${bad.output} as NaN or infinite (first: data row ${n + bad.row + 1}); nothing was written to ${out}`);
      let text = "";
      for (let i = 0; i < s.pCtr.length; i++) {
        if (kept) text += kept[i]!.map((c) => csvCell(c)).join(",") + ",";
        text += `${s.pCtr[i]},${s.pCvr[i]},${s.pCtcvr[i]}`;
        if (gates && s.gates) {
          for (let e = 0; e < E; e++) text += `,${s.gates.ctr[i * E + e]}`;
          for (let e = 0; e < E; e++) text += `,${s.gates.cvr[i * E + e]}`;
        }
        text += "\n";
      }
      n += s.pCtr.length;
      await w.write(text);
    });
    await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  } finally {
    await workers?.close();
  }
  reportStats(path, stats, io.err);
  reportUnseen(path, unseen, io.err);
  if (stats.bad > 0) io.err(`note: the ${stats.bad} skipped line(s) have no row in ${toStdout ? "the output" : out}`);
  (toStdout ? io.err : io.out)(`wrote ${n} predictions to ${toStdout ? "standard output" : out}`);
}

export const command: Command = {
  name: "predict",
  summary: "score a file: pctr,pcvr,pctcvr per row, in row order (--keep, --out -)",
  usage: "esmm predict --model DIR --data FILE --out FILE|- [--gates] [--keep COLS]",
  options: {
      model: { type: "string", help: "checkpoint directory (required)" },
      data: { type: "string", help: "rows to score (a file may be gzipped), or - for standard input; label columns are optional (required)" },
      out: { type: "string", help: "CSV of pctr,pcvr,pctcvr in row order, gzipped if its name ends in .gz, or - for standard output (required)" },
      keep: { type: "string", help: "comma-separated input columns to copy into the output first (keys to join the scores back on)" },
      gates: { type: "flag", help: "also write each task's gate weights (esmm-mmoe)" },
      threads: { type: "string", help: "threads that score the rows: N or auto (default 1; the same scores on any count)" },
      ...dataOptions(),
    },
  run: predictCommand,
};
