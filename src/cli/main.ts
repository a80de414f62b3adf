/**
 * The `esmm` command. Exit codes: 0 success, 1 bad input (data, checkpoint or file errors),
 * 2 usage errors (unknown command or option, missing or malformed argument).
 */
import { BACKENDS, useBackend, type BackendName } from "../index.js";
import "../node/index.js"; // registers the worker threads that train --threads uses
import { UsageError, helpText, parseArgs, type OptionSpec } from "./args.js";
import { VERSION } from "./version.js";
import { SPECS, evalCommand, generate, inspectCommand, predictCommand, trainCommand, type Io } from "./commands.js";
import { DEMO_SPEC, demoCommand } from "./demo.js";
import { SERVE_SPEC, serveCommand } from "./serve.js";
import { BENCH_SPEC, benchCommand } from "./bench.js";

const COMMANDS: Record<string, (p: ReturnType<typeof parseArgs>, io: Io) => Promise<void>> = {
  generate,
  train: trainCommand,
  eval: evalCommand,
  predict: predictCommand,
  inspect: inspectCommand,
  demo: demoCommand,
  serve: serveCommand,
  bench: benchCommand,
};

const ALL_SPECS: Record<string, { usage: string; options: Record<string, OptionSpec> }> = { ...SPECS, demo: DEMO_SPEC, serve: SERVE_SPEC, bench: BENCH_SPEC };

const TOP_HELP = `esmm: train and serve ESMM multi-task (pCTR, pCVR) models with no dependencies

Usage: esmm <command> [options]

Commands:
  generate   write simulated app-store impressions (with true pCTR / pCVR) to a CSV file
  train      fit a model (esmm-mmoe, esmm or base) and save a checkpoint directory
  eval       ESMM's metrics of a checkpoint on labelled data (text, or --json)
  predict    score a file: pctr,pcvr,pctcvr per row, in row order
  inspect    a checkpoint's config, parameter count and gate usage
  demo       the main job (npm start): simulate, train all three variants, compare, write a report
  serve      serve the browser demo (examples/browser/) on localhost
  bench      the reference workload per backend and thread count: samples/s, gemm GFLOP/s, SIMD peak

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
  const run = COMMANDS[cmd];
  const spec = ALL_SPECS[cmd];
  if (!run || !spec) {
    io.err(`esmm: unknown command "${cmd}"\n\n${TOP_HELP}`);
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
    io.err(`esmm ${cmd}: ${(e as Error).message}`);
    if (process.env.ESMM_DEBUG) io.err((e as Error).stack ?? "");
    return 1;
  }
}
