/**
 * The `esmm` command. Exit codes: 0 success, 1 bad input (data, checkpoint or file errors),
 * 2 usage errors (unknown command or option, missing or malformed argument).
 */
import { BACKENDS, useBackend, type BackendName } from "../index.js";
import "../node/index.js"; // registers the worker threads that train --threads uses
import { UsageError, helpText, nearestName, parseArgs } from "./args.js";
import { VERSION } from "./version.js";
import type { Command, Io } from "./io.js";
import { command as generate } from "./commands/generate.js";
import { command as train } from "./commands/train.js";
import { command as evalCmd } from "./commands/eval.js";
import { command as predict } from "./commands/predict.js";
import { command as inspect } from "./commands/inspect.js";
import { command as exportCmd } from "./commands/export.js";
import { command as demo } from "./demo.js";
import { command as compare } from "./commands/compare.js";
import { command as abtest } from "./commands/abtest.js";
import { command as serve } from "./serve.js";
import { command as bench } from "./bench.js";

/** Every command, in the order --help lists them; each module exports its name, summary, usage, options and run. */
const COMMANDS: readonly Command[] = [generate, train, evalCmd, predict, inspect, exportCmd, compare, abtest, demo, serve, bench];
const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));

const TOP_HELP = `esmm: train and serve ESMM multi-task (pCTR, pCVR) models with no dependencies

Usage: esmm <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join("\n")}

'esmm <command> --help' lists a command's options; 'esmm --version' prints the version.
`;

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "--version" || cmd === "-v" || cmd === "version") {
    io.out(`esmm-ts ${VERSION}`);
    return 0;
  }
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    (cmd === undefined ? io.err : io.out)(TOP_HELP);
    return cmd === undefined ? 2 : 0;
  }
  const spec = BY_NAME.get(cmd);
  const run = spec?.run;
  if (!run || !spec) {
    const near = nearestName(cmd, BY_NAME.keys());
    io.err(`esmm: unknown command "${cmd}"${near ? ` (did you mean ${near}?)` : ""}\n\n${TOP_HELP}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(helpText(`Usage: ${spec.usage}`, spec.options));
    return 0;
  }
  try {
    const parsed = parseArgs(rest, spec.options);
    // bench takes a list of backends itself; for the others --backend (or ESMM_BACKEND) picks one
    const backend = cmd === "bench" ? process.env.ESMM_BACKEND : typeof parsed.backend === "string" ? parsed.backend : process.env.ESMM_BACKEND;
    if (backend) {
      if (!BACKENDS.includes(backend as BackendName)) throw new UsageError(`--backend (or ESMM_BACKEND) must be one of ${BACKENDS.join(", ")}, got "${backend}"`);
      useBackend(backend as BackendName);
    }
    await run(parsed, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`esmm ${cmd}: ${e.message}\nUsage: ${spec.usage}\n(esmm ${cmd} --help for the options)`);
      return 2;
    }
    io.err(failureLine(cmd, e as Error));
    if (process.env.ESMM_DEBUG) io.err((e as Error).stack ?? "");
    return 1;
  }
}

/**
 * The line a failed command prints: "esmm CMD: message". A library error that names the function
 * it came from with the command's own name ("train: ...") does not say it twice.
 */
export function failureLine(cmd: string, e: Error): string {
  const m = e.message.startsWith(`${cmd}: `) ? e.message.slice(cmd.length + 2) : e.message;
  return `esmm ${cmd}: ${m}`;
}
