/** `esmm serve`: the browser demo on a local static server, or with --model a checkpoint's scores over HTTP. */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel, startScoringServer, startStaticServer } from "../node/index.js";
import { UsageError, int, str, type OptionSpec, type Parsed } from "./args.js";
import type { Command, Io } from "./io.js";
import { threadsOf } from "./shared.js";

export const SERVE_SPEC: { usage: string; options: Record<string, OptionSpec> } = {
  usage: "esmm serve [--port 8080] [--root DIR] [--host 127.0.0.1] | esmm serve --model DIR [--threads N] [--max-body BYTES] [--strict] [--port 8080] [--host 127.0.0.1]",
  options: {
    port: { type: "string", help: "port (default 8080; 0 picks a free one)" },
    host: { type: "string", help: "address to bind (default 127.0.0.1: this machine only, and only loopback Host headers are answered)" },
    root: { type: "string", help: "directory to serve (default: the esmm-ts package, so /examples/browser/ and /dist/ resolve)" },
    model: { type: "string", help: "serve this checkpoint's scores instead of files: POST /score, POST /rank (JSON), GET /model" },
    threads: { type: "string", help: "--model: threads that score each request's records: N or auto (default 1; the same scores on any count)" },
    "max-body": { type: "string", help: "--model: the largest request body accepted, in bytes (default 16777216)" },
    strict: { type: "flag", help: "--model: a record must carry every column the model reads and no other (a misspelt name is a 400, not a quiet unseen value)" },
  },
};

export async function serveCommand(p: Parsed, io: Io): Promise<void> {
  // dist/cli/serve.js -> the package root is two levels up
  const root = str(p, "root") ?? join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const host = str(p, "host") ?? "127.0.0.1";
  const port = int(p, "port", 8080, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const dir = str(p, "model");
  if (dir === undefined) {
    for (const flag of ["threads", "max-body"]) if (str(p, flag) !== undefined) throw new UsageError(`--${flag} goes with --model`);
    if (p.strict === true) throw new UsageError("--strict goes with --model");
    const { url } = await startStaticServer(root, port, host, { home: "/examples/browser/" }); // "/" opens the demo
    io.out(`serving ${root} at ${url}/ (browser demo: ${url}/examples/browser/); Ctrl-C stops`);
  } else {
    if (str(p, "root") !== undefined) throw new UsageError("--root serves files, --model a checkpoint's scores: one or the other");
    const threads = threadsOf(p); // checked before anything is loaded
    const maxBody = int(p, "max-body", 16 * 1024 * 1024, 1);
    const model = await loadModel(dir);
    model.strict = p.strict === true;
    await model.setThreads(threads);
    const { url } = await startScoringServer(model, port, host, { maxBody });
    io.out(`serving ${dir} (${model.model.name}, ${threads} thread(s)) at ${url}/: POST /score, POST /rank, GET /model; Ctrl-C stops`);
  }
  await new Promise(() => undefined); // until the process is stopped
}

export const command: Command = { name: "serve", summary: "serve the browser demo (examples/browser/) on localhost, or with --model a checkpoint's scores over HTTP (POST /score, /rank)", ...SERVE_SPEC, run: serveCommand };
