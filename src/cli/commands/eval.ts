/** `esmm eval`: ESMM's metrics of a checkpoint on labelled data (text, or --json). Returns normally on success and throws on failure (see main.ts). */
import { workerFactory } from "../../esmm/parallel.js";
import { emptyStats, evaluateSource } from "../../node/index.js";
import { need, type Parsed } from "../args.js";
import { metricsTable } from "../format.js";
import { dataOptions, modelAndSource, dataWorldWarning, reportStats, reportUnseen, threadsOf } from "../shared.js";
import type { Command, Io } from "../io.js";
import { UnseenCounts } from "../../index.js";

async function evalCommand(p: Parsed, io: Io): Promise<void> {
  const path = need(p, "data");
  const threads = threadsOf(p); // checked before anything is read
  const { ck, src, pre } = await modelAndSource(p, path, false);
  const otherWorld = dataWorldWarning(p, path, ck);
  if (otherWorld) io.err(`warning: ${otherWorld}`);
  const stats = emptyStats();
  const unseen = UnseenCounts.of(pre); // each column's share of values never seen in training
  // scored as the file is read: with --threads, by the workers while this thread reads
  const workers = threads > 1 ? await workerFactory()(ck.model, threads - 1) : null;
  let m;
  try {
    m = await evaluateSource(ck.model, src, pre, { workers, stats, unseen });
  } finally {
    await workers?.close();
  }
  reportStats(path, stats, io.err);
  reportUnseen(path, unseen, io.err);
  if (p.json) io.out(JSON.stringify({ model: need(p, "model"), variant: ck.model.name, data: path, metrics: m, unseen: unseen.shares() }, null, 2));
  else io.out(metricsTable([{ name: ck.model.name, metrics: m }]));
}

export const command: Command = {
  name: "eval",
  summary: "ESMM's metrics of a checkpoint on labelled data (text, or --json)",
  usage: "esmm eval --model DIR --data FILE [--json]",
  options: {
      model: { type: "string", help: "checkpoint directory (required)" },
      data: { type: "string", help: "labelled data (a file may be gzipped), or - for standard input (required)" },
      json: { type: "flag", help: "print the metrics as JSON" },
      threads: { type: "string", help: "threads that score the rows: N or auto (default 1; the same scores on any count)" },
      ...dataOptions(),
    },
  run: evalCommand,
};
