/** `esmm generate`: simulated app-store impressions, with their true pCTR and pCVR, to a CSV file and its schema sidecar. Returns normally on success and throws on failure (see main.ts). */
import { AppStoreSimulator, DENSE_FEATURES, MULTI_FIELDS, SINGLE_FIELDS, csvCell, type CsvOptions } from "../../index.js";
import { openAtomicWriter, writeFileAtomic } from "../../node/index.js";
import { UsageError, int, needPath, type Parsed } from "../args.js";
import { simulatorRateOptions, simulatorRates } from "../sim-options.js";
import type { Command, Io } from "../io.js";

async function generate(p: Parsed, io: Io): Promise<void> {
  const rows = int(p, "rows", -1, 1);
  if (rows < 0) throw new UsageError("--rows is required");
  const out = needPath(p, "out", "generate writes a schema sidecar beside its CSV (<out>.schema.json), so it writes to a file");
  const sim = new AppStoreSimulator({
    seed: int(p, "seed", 7),
    ...simulatorRates(p),
  });
  const w = await openAtomicWriter(out);
  try {
    await w.write(["click", "conversion", "true_pctr", "true_pcvr", ...SINGLE_FIELDS, ...MULTI_FIELDS, ...DENSE_FEATURES].join(",") + "\n");
    let clicks = 0;
    let conv = 0;
    const stream = int(p, "stream", 0);
    for (const r of sim.rows(rows, stream)) {
      clicks += r.click;
      conv += r.conversion;
      const bag = Array.from(r.recentCats.ids, (id, j) => `${id}:${r.recentCats.weights[j]}`).join("|");
      await w.write(`${r.click},${r.conversion},${r.truePctr.toPrecision(6)},${r.truePcvr.toPrecision(6)},${Array.from(r.ids).join(",")},${csvCell(bag)},${r.dense[0]!.toPrecision(6)},${r.dense[1]}\n`);
    }
    await w.close();
    const schema: CsvOptions = { multi: MULTI_FIELDS.map((name) => ({ name, pooling: "sum" })), dense: [...DENSE_FEATURES], user: "user_id" };
    // the world the rows come from, so that a model trained on them is A/B-tested in the same one
    const simulated = { world: sim.options, stream };
    await writeFileAtomic(`${out}.schema.json`, JSON.stringify({ ...schema, simulated }, null, 2) + "\n");
    io.out(`wrote ${rows} impressions to ${out}: CTR ${(clicks / rows).toFixed(4)}, CVR after click ${(conv / Math.max(clicks, 1)).toFixed(4)}, CTCVR ${(conv / rows).toFixed(5)}`);
  } catch (e) {
    await w.abort();
    throw e;
  }
}

export const command: Command = {
  name: "generate",
  summary: "write simulated app-store impressions (with true pCTR / pCVR) to a CSV file",
  usage: "esmm generate --rows N --out FILE [--seed S] [--stream K] [--ctr R --cvr R --bias B --users N --apps N]",
  options: {
      rows: { type: "string", help: "number of impressions (required)" },
      out: { type: "string", help: "CSV file to write, gzipped if its name ends in .gz (required); a <out>.schema.json sidecar is written beside it (the columns' meanings, and the world and stream the rows come from)" },
      seed: { type: "string", help: "world seed (default 7): the same seed gives the same users and apps" },
      stream: { type: "string", help: "impression stream of that world (default 0; use 1, 2 for validation, test)" },
      ...simulatorRateOptions(),
    },
  run: generate,
};
