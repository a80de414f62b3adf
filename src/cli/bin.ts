#!/usr/bin/env node
/** The executable behind `esmm` (package.json "bin"). */
import type { Io } from "./commands.js";
import { main } from "./main.js";

const io: Io = {
  out: (s) => process.stdout.write(s.endsWith("\n") ? s : s + "\n"),
  err: (s) => process.stderr.write(s.endsWith("\n") ? s : s + "\n"),
  isTTY: process.stderr.isTTY === true,
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
