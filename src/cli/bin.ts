#!/usr/bin/env node
/** The executable behind `esmm` (package.json "bin"). */
import type { Io } from "./io.js";
import { main } from "./main.js";
import { removeTemporaryFiles } from "../node/index.js";

// A reader that stops early (`esmm predict --out - | head`) closes the pipe: the write fails with
// EPIPE, which is the reader's choice, not an error of ours. Stop quietly, as Unix tools do.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

// Ctrl-C (or a kill) while a file is being written: remove its temporary file (the target was never
// touched), then end as a signal would (128 + its number).
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    removeTemporaryFiles();
    process.exit(code);
  });
}

const io: Io = {
  out: (s) => process.stdout.write(s.endsWith("\n") ? s : s + "\n"),
  err: (s) => process.stderr.write(s.endsWith("\n") ? s : s + "\n"),
  isTTY: process.stderr.isTTY === true,
  // a live line on a terminal: rewritten in place, padded over the previous one; "" ends it
  status: (() => {
    let last = 0;
    return (line: string) => {
      if (line === "") {
        if (last) process.stderr.write("\n");
        last = 0;
        return;
      }
      process.stderr.write(`\r${line.padEnd(last)}`);
      last = line.length;
    };
  })(),
};

main(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`esmm: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
