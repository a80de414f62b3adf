/**
 * `esmm serve`'s static server, attacked over real loopback connections: malformed request lines,
 * read errors, FIFOs, symlinks out of the root, dotfiles, foreign Host headers, other methods.
 * Every request here goes to 127.0.0.1 only; the fuzz is bounded in count and time.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "node:http";
import { Rng } from "../src/index.js";
import { startStaticServer } from "../src/node/index.js";

const root = mkdtempSync(join(tmpdir(), "esmm-serve-"));
const outside = mkdtempSync(join(tmpdir(), "esmm-outside-"));
let server: Server;
let port = 0;
let hasFifo = false;

beforeAll(async () => {
  writeFileSync(join(root, "index.html"), "<h1>root</h1>");
  mkdirSync(join(root, "examples", "browser"), { recursive: true });
  writeFileSync(join(root, "examples", "browser", "index.html"), "<h1>demo</h1>");
  mkdirSync(join(root, "dir", "index.html"), { recursive: true }); // a directory named like a file
  mkdirSync(join(root, ".git"));
  writeFileSync(join(root, ".git", "config"), "[secret]");
  writeFileSync(join(root, ".env"), "TOKEN=1");
  writeFileSync(join(outside, "shadow"), "root:secret");
  symlinkSync(outside, join(root, "escape"));
  symlinkSync(join(root, "index.html"), join(root, "inside-link.html"));
  try {
    execFileSync("mkfifo", [join(root, "pipe.js")]);
    hasFifo = true;
  } catch {
    hasFifo = false;
  }
  const s = await startStaticServer(root, 0);
  server = s.server;
  port = Number(new URL(s.url).port);
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function get(path: string, opts: { method?: string; host?: string; port?: number } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const at = opts.port ?? port;
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: at, path, method: opts.method ?? "GET", headers: { host: opts.host ?? `127.0.0.1:${at}` }, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout on ${path}`)));
    req.on("error", reject);
    req.end();
  });
}

/** Sends raw bytes as a request and returns the status line the server answered with ("" if it closed). */
function raw(bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    let got = "";
    const done = (): void => {
      sock.destroy();
      resolve(got.split("\r\n")[0] ?? "");
    };
    sock.setTimeout(2000, done);
    sock.on("data", (c) => {
      got += c.toString("latin1");
      if (got.includes("\r\n")) done();
    });
    sock.on("error", done);
    sock.on("close", done);
    sock.write(bytes);
    sock.end();
  });
}

describe("esmm serve gives out the demo and nothing else", () => {
  it("serves regular files with cross-origin isolation headers", async () => {
    const r = await get("/examples/browser/");
    expect(r.status).toBe(200);
    expect(r.body).toBe("<h1>demo</h1>");
    expect(r.headers["cross-origin-opener-policy"]).toBe("same-origin");
    expect(r.headers["cross-origin-embedder-policy"]).toBe("require-corp");
    expect((await get("/inside-link.html")).body).toBe("<h1>root</h1>"); // a link that stays inside is fine
    const h = await get("/index.html", { method: "HEAD" });
    expect([h.status, h.headers["content-length"], h.body]).toEqual([200, "13", ""]);
  });

  it("survives GET /% and a directory named like a file", async () => {
    expect((await get("/%")).status).toBe(400);
    expect((await get("/%E0%A4%A")).status).toBe(400);
    expect((await get("/dir/index.html/")).status).toBe(404);
    expect((await get("/dir/index.html")).status).toBe(301); // it is a directory
    expect((await get("/")).status).toBe(200); // still alive
  });

  it("never opens a FIFO (which would block its threads)", { timeout: 10_000 }, async () => {
    if (!hasFifo) return;
    const rs = await Promise.all(Array.from({ length: 8 }, () => get("/pipe.js")));
    expect(rs.map((r) => r.status)).toEqual(Array(8).fill(404));
    expect((await get("/index.html")).status).toBe(200);
  });

  it("refuses symlinks out of the root, dotfiles and dot-directories", async () => {
    expect((await get("/escape/shadow")).status).toBe(404);
    expect((await get("/escape/")).status).toBe(404);
    expect((await get("/.git/config")).status).toBe(404);
    expect((await get("/.env")).status).toBe(404);
    expect((await get("/examples/../.git/config")).status).toBe(404);
    expect((await get("/%2e%2e/%2e%2e/etc/passwd")).status).toBe(404);
    for (const r of await Promise.all(["/escape/shadow", "/.git/config", "/.env"].map((p) => get(p)))) expect(r.body).not.toMatch(/secret|TOKEN/);
  });

  it("answers only loopback Host headers (DNS rebinding), and only GET and HEAD", async () => {
    expect((await get("/", { host: "evil.example:80" })).status).toBe(421);
    expect((await get("/", { host: `attacker.test:${port}` })).status).toBe(421);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) expect((await get("/", { host })).status).toBe(200);
    const p = await get("/", { method: "POST" });
    expect(p.status).toBe(405);
    expect(p.headers.allow).toBe("GET, HEAD");
    expect((await get("/", { method: "DELETE" })).status).toBe(405);
  });

  it("redirects a directory to its slash form, keeping the query", async () => {
    const r = await get("/examples/browser?checkpoint=/m/");
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe("/examples/browser/?checkpoint=/m/");
  });

  it("sends / to its home page where the root has no index.html (esmm serve: the demo), and serves a root's own index.html", async () => {
    const bare = mkdtempSync(join(tmpdir(), "esmm-bare-"));
    const s = await startStaticServer(bare, 0, "127.0.0.1", { home: "/examples/browser/" });
    try {
      const r = await get("/", { port: Number(new URL(s.url).port) });
      expect([r.status, r.headers.location]).toEqual([302, "/examples/browser/"]); // it was "not found: /"
    } finally {
      await new Promise<void>((r) => s.server.close(() => r()));
    }
    expect((await get("/")).body).toBe("<h1>root</h1>"); // this root's own page, no redirect
  });

  it("fuzzed request lines: every one gets an answer or a close, and the server lives", { timeout: 60_000 }, async () => {
    const rng = new Rng(9);
    const pieces = ["GET", "HEAD", "POST", "PUT", " ", "/", "%", "%00", "%zz", "..", ".git", "\\", "?", "#", "HTTP/1.1", "HTTP/9", "\r\n", "\n", "Host: 127.0.0.1\r\n", "\x00", "\xff", "é", "/index.html", "/pipe.js", "/escape/"];
    for (let i = 0; i < 200; i++) {
      let line = "";
      for (let k = 0, n = 1 + rng.int(10); k < n; k++) line += pieces[rng.int(pieces.length)];
      if (rng.bernoulli(0.5)) line = `GET ${line} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;
      else line += "\r\n\r\n";
      const status = await raw(Buffer.from(line, "latin1"));
      expect(status === "" || /^HTTP\/1\.[01] \d{3}/.test(status), `${JSON.stringify(line)} -> ${status}`).toBe(true);
    }
    expect((await get("/index.html")).status).toBe(200);
  });
});

describe("esmm serve's flags", () => {
  it("a port beyond 65535 is a usage error naming the flag (it was Node's own message about options.port)", async () => {
    const { runCli } = await import("./helpers.js");
    const r = await runCli("serve", "--port", "70000");
    expect(r.code).toBe(2);
    expect(r.err).toContain("esmm serve: --port must be at most 65535, got 70000");
  });
});
