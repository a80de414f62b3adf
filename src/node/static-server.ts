/**
 * A tiny static file server (no dependency) for the browser demo: `esmm serve` serves the package
 * root, so /examples/browser/ and /dist/ load as plain ES modules. Local use only, and written to
 * give out nothing else:
 *  - GET and HEAD only; every request line, however malformed, gets an answer, never a crash;
 *  - regular files only (a FIFO or a device is never opened, so it cannot block the server);
 *  - real paths: a symbolic link that leads outside the root is refused, and so is every path with
 *    a segment starting with "." (dotfiles, .git/);
 *  - the Host header must name this machine (127.0.0.1, localhost, [::1]) with the port, so a page
 *    elsewhere cannot reach the server through DNS rebinding, unless the server was bound to
 *    another address on purpose;
 *  - a directory without its trailing slash is redirected to it (relative URLs then resolve);
 *  - cross-origin isolation headers (COOP/COEP), so a page may use SharedArrayBuffer and workers.
 */
import { constants, promises as fsp } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { hostCheck, listen } from "./http.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".map": "application/json; charset=utf-8",
  ".safetensors": "application/octet-stream",
  ".csv": "text/csv; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".wasm": "application/wasm",
};

/** Options of `startStaticServer`. */
export interface StaticServerOptions {
  /** Accept any Host header (default: only loopback names, unless `host` is not a loopback address). */
  anyHost?: boolean;
  /** Where "/" sends a browser (a 302) when the root has no index.html of its own, e.g. "/examples/browser/". */
  home?: string;
}

/** Serves the regular files under `root` to this machine (see the top of this file for what it refuses). */
export function startStaticServer(rootIn: string, port: number, host = "127.0.0.1", opts: StaticServerOptions = {}): Promise<{ server: Server; url: string }> {
  const rootPromise = fsp.realpath(resolve(rootIn));
  const answers = hostCheck(host, opts.anyHost);
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, "internal error");
      else res.destroy();
    });
  });
  const send = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers });
    res.end(text);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const root = await rootPromise;
    if (!answers(req)) {
      send(res, 421, "this server answers only to 127.0.0.1, localhost and [::1] with its port\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, "only GET and HEAD\n", { allow: "GET, HEAD" });
      return;
    }
    const rawPath = (req.url ?? "/").split(/[?#]/)[0]!;
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      send(res, 400, "bad request: malformed percent-encoding\n");
      return;
    }
    if (!path.startsWith("/") || path.includes("\0")) {
      send(res, 400, "bad request\n");
      return;
    }
    const segments = path.split("/").filter((s) => s !== "");
    if (segments.some((s) => s.startsWith(".") || s.includes("\\"))) {
      send(res, 404, "not found\n");
      return;
    }
    const notFound = (): void => send(res, 404, `not found: ${encodeURI(path)}\n`);
    let file: string;
    try {
      file = await fsp.realpath(join(root, ...segments));
    } catch {
      notFound();
      return;
    }
    if (file !== root && !file.startsWith(root + sep)) {
      notFound(); // a link out of the root: as if it were not there
      return;
    }
    let st = await fsp.stat(file);
    if (st.isDirectory()) {
      if (!path.endsWith("/")) {
        const q = (req.url ?? "").slice(rawPath.length);
        send(res, 301, "moved\n", { location: `${encodeURI(path)}/${q}` });
        return;
      }
      file = join(file, "index.html");
      try {
        file = await fsp.realpath(file);
      } catch {
        if (path === "/" && opts.home) send(res, 302, "found\n", { location: opts.home });
        else notFound();
        return;
      }
      if (!file.startsWith(root + sep)) {
        notFound();
        return;
      }
    } else if (path.endsWith("/")) {
      notFound(); // dir/index.html/ is not a directory
      return;
    }
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the descriptor is then checked to be a regular file.
    let fh;
    try {
      fh = await fsp.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      notFound();
      return;
    }
    try {
      st = await fh.stat();
    } catch {
      await fh.close();
      notFound();
      return;
    }
    if (!st.isFile()) {
      await fh.close();
      notFound();
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "content-length": st.size,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cross-origin-resource-policy": "same-origin",
    });
    if (req.method === "HEAD") {
      await fh.close();
      res.end();
      return;
    }
    const stream = fh.createReadStream({ autoClose: true });
    stream.on("error", () => res.destroy());
    res.on("close", () => stream.destroy());
    stream.pipe(res);
  };
  return listen(server, port, host);
}
