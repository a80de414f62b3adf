/** `esmm serve`: the browser demo on a local static server. */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startStaticServer } from "../node/index.js";
import { UsageError, int, str, type OptionSpec, type Parsed } from "./args.js";
import type { Command, Io } from "./io.js";

export const SERVE_SPEC: { usage: string; options: Record<string, OptionSpec> } = {
  usage: "esmm serve [--port 8080] [--root DIR] [--host 127.0.0.1]",
  options: {
    port: { type: "string", help: "port (default 8080; 0 picks a free one)" },
    host: { type: "string", help: "address to bind (default 127.0.0.1: this machine only, and only loopback Host headers are answered)" },
    root: { type: "string", help: "directory to serve (default: the esmm-ts package, so /examples/browser/ and /dist/ resolve)" },
  },
};

export async function serveCommand(p: Parsed, io: Io): Promise<void> {
  // dist/cli/serve.js -> the package root is two levels up
  const root = str(p, "root") ?? join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const host = str(p, "host") ?? "127.0.0.1";
  const port = int(p, "port", 8080, 0);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const { url } = await startStaticServer(root, port, host);
  io.out(`serving ${root} at ${url}/ (browser demo: ${url}/examples/browser/); Ctrl-C stops`);
  await new Promise(() => undefined); // until the process is stopped
}

export const command: Command = { name: "serve", summary: "serve the browser demo (examples/browser/) on localhost", ...SERVE_SPEC, run: serveCommand };
