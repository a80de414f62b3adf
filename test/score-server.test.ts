/**
 * `esmm serve --model`: a CLI-trained checkpoint's scores over HTTP, on loopback connections. The
 * answers are ScoringModel's scores bit for bit (JSON carries float64 exactly), and the server answers
 * every mistake (oversized, wrong type, bad JSON, bad record, cut-off body, foreign Host) and goes on.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { request, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { splitCsvLine, type FeatureRecord, type ScoringModel } from "../src/index.js";
import { loadModel, startScoringServer } from "../src/node/index.js";

const dir = mkdtempSync(join(tmpdir(), "esmm-score-server-"));
const io = { out: () => undefined, err: () => undefined, isTTY: false };
let model: ScoringModel;
let server: Server;
let port = 0;
let records: FeatureRecord[] = [];

beforeAll(async () => {
  const csv = join(dir, "train.csv");
  expect(await main(["generate", "--rows", "2000", "--out", csv, "--users", "200", "--apps", "80"], io)).toBe(0);
  expect(await main(["train", "--train", csv, "--model", join(dir, "m"), "--epochs", "1", "--dim", "4"], io)).toBe(0);
  const [head, ...rows] = readFileSync(csv, "utf8").trimEnd().split("\n");
  const cols = splitCsvLine(head!, ",")!;
  records = rows.slice(0, 300).map((r) => Object.fromEntries(splitCsvLine(r, ",")!.map((c, i) => [cols[i]!, c])));
  model = await loadModel(join(dir, "m"));
  const s = await startScoringServer(model, 0, "127.0.0.1", { maxBody: 256 * 1024 });
  server = s.server;
  port = Number(new URL(s.url).port);
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** One request; the JSON it answered with (or its text), its status and headers. */
function call(path: string, opts: { method?: string; body?: string; type?: string | null; host?: string; port?: number } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: unknown }> {
  const at = opts.port ?? port;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: opts.host ?? `127.0.0.1:${at}` };
    if (opts.body !== undefined && opts.type !== null) headers["content-type"] = opts.type ?? "application/json";
    const req = request({ host: "127.0.0.1", port: at, path, method: opts.method ?? (opts.body === undefined ? "GET" : "POST"), headers, timeout: 10_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text) }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout on ${path}`)));
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("esmm serve --model: the scoring endpoint", () => {
  it("POST /score answers ScoringModel's scores, bit for bit; { records } or a bare array", async () => {
    const want = model.scoreSync(records);
    const a = await call("/score", { body: JSON.stringify(records) });
    expect(a.status).toBe(200);
    expect(a.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect((a.json as { scores: unknown }).scores).toEqual(want);
    const b = await call("/score", { body: JSON.stringify({ records: records.slice(0, 3) }) });
    expect((b.json as { scores: unknown }).scores).toEqual(want.slice(0, 3));
  });

  it("POST /rank answers the candidates' indices best first, cut to top, with rank's scores", async () => {
    const { user_id, age, gender, device, region, activity, user_tenure } = records[0]!;
    const user = { user_id, age, gender, device, region, activity, user_tenure };
    const candidates = records.slice(0, 20).map(({ app_id, category, developer, price, rating, size, app_downloads }) => ({ app_id, category, developer, price, rating, size, app_downloads }));
    const want = model.rank(user, candidates, "pCtr");
    const r = await call("/rank", { body: JSON.stringify({ user, candidates, by: "pCtr", top: 5 }) });
    expect(r.status).toBe(200);
    const got = (r.json as { ranking: Array<{ index: number; pCtr: number }> }).ranking;
    expect(got.map((x) => x.index)).toEqual(want.slice(0, 5).map((w) => candidates.indexOf(w.candidate as (typeof candidates)[number])));
    expect(got.map(({ index: _i, ...score }) => score)).toEqual(want.slice(0, 5).map((w) => w.score));
    expect((await call("/rank", { body: JSON.stringify({ user, candidates, by: "value" }) })).json).toEqual({ error: '"by" must be one of pCtcvr, pCtr, pCvr, got "value"' });
    expect((await call("/rank", { body: JSON.stringify({ user, candidates, top: 0 }) })).status).toBe(400);
    expect((await call("/rank", { body: JSON.stringify({ user: null, candidates }) })).json).toEqual({ error: "ScoringModel.rank: the user must be an object of feature values, got null" });
  });

  it("GET /model says what the model reads", async () => {
    const r = await call("/model");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ name: "esmm-mmoe", bottom: "mmoe", objective: "entire-space", columns: model.columns, strict: false, threads: 1 });
  });

  it("answers every mistake with its status and a message, and goes on serving", async () => {
    const cases: Array<[Parameters<typeof call>, number, string]> = [
      [["/score", { body: "[{}]", type: "text/plain" }], 415, 'a POST must be content-type: application/json, got "text/plain"'],
      [["/score", { body: "[{}]", type: null }], 415, 'a POST must be content-type: application/json, got ""'],
      [["/score", { body: "{bad" }], 400, "the body is not JSON"],
      [["/score", { body: '{"rows": []}' }], 400, '"rows" is not a key of a /score body (records)'],
      [["/score", { body: '{"records": 3}' }], 400, 'the body must be an array of records, or { "records": [...] }'],
      // a slip in a body's key is named (it was ignored: "usr" read as no user at all)
      [["/score", { body: '{"record": []}' }], 400, '"record" is not a key of a /score body (records); did you mean "records"?'],
      [["/rank", { body: JSON.stringify({ usr: records[0], candidates: [records[1]] }) }], 400, '"usr" is not a key of a /rank body (user, candidates, by, top); did you mean "user"?'],
      [["/rank", { body: JSON.stringify({ user: records[0], candidates: [records[1]], limit: 1 }) }], 400, '"limit" is not a key of a /rank body (user, candidates, by, top)'],
      [["/score", { body: JSON.stringify([records[0], { ...records[1], app_downloads: "x" }]) }], 400, 'record 1: "app_downloads": dense feature must be a finite number, got "x"'],
      [["/score", { body: JSON.stringify([7]) }], 400, "record 0: must be an object of feature values by column, got 7"],
      [["/score"], 405, "/score takes POST"],
      [["/model", { body: "{}" }], 405, "/model takes GET"],
      [["/nope"], 404, "no such endpoint: /nope"],
      [["/model", { host: "evil.example:80" }], 421, "this server answers only to 127.0.0.1, localhost and [::1] with its port"],
      [["/score", { body: JSON.stringify(Array.from({ length: 4000 }, () => records[0])) }], 413, "more than the 262144 bytes this server takes"],
    ];
    for (const [args, status, message] of cases) {
      const r = await call(...args);
      expect(r.status, message).toBe(status);
      expect((r.json as { error: string }).error, message).toContain(message);
    }
    expect((await call("/score")).headers.allow).toBe("POST");
    // a body cut off part-way, and a request line that is not HTTP: the next request is answered
    await new Promise<void>((resolve) => {
      const sock = connect(port, "127.0.0.1", () => {
        sock.write(`POST /score HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n[{"app_id"`);
        sock.destroy();
        resolve();
      });
    });
    const r = await call("/score", { body: JSON.stringify(records.slice(0, 2)) });
    expect((r.json as { scores: unknown }).scores).toEqual(model.scoreSync(records.slice(0, 2)));
  });

  it("a body sent in chunks past the limit (no content-length) is refused once it passes it", async () => {
    const status = await new Promise<string>((resolve) => {
      const sock = connect(port, "127.0.0.1", () => {
        sock.write(`POST /score HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
        const chunk = "x".repeat(16 * 1024);
        for (let i = 0; i < 24; i++) sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      });
      let got = "";
      sock.on("data", (c) => {
        got += c.toString("latin1");
        if (got.includes("\r\n")) {
          sock.destroy();
          resolve(got.split("\r\n")[0]!);
        }
      });
      sock.on("error", () => resolve(got.split("\r\n")[0] ?? ""));
    });
    expect(status).toBe("HTTP/1.1 413 Payload Too Large");
  });

  it("a strict model (esmm serve --strict) refuses a misspelt column instead of scoring it as unseen", async () => {
    const strict = await loadModel(join(dir, "m"));
    strict.strict = true;
    const s = await startScoringServer(strict, 0);
    try {
      const p = Number(new URL(s.url).port);
      const { click: _c, conversion: _v, true_pctr: _t, true_pcvr: _u, user_id, ...rest } = records[0] as Record<string, string>;
      const answer = await new Promise<{ status: number; json: unknown }>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: p, path: "/score", method: "POST", headers: { host: `127.0.0.1:${p}`, "content-type": "application/json" } }, (res) => {
          let t = "";
          res.on("data", (c: Buffer) => (t += c.toString("utf8")));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(t) }));
        });
        req.on("error", reject);
        req.end(JSON.stringify([{ ...rest, userid: user_id }]));
      });
      expect(answer.status).toBe(400);
      expect((answer.json as { error: string }).error).toBe('record 0: "user_id": missing (strict: every column the model reads must be given; null states a missing value)');
    } finally {
      await new Promise<void>((r) => s.server.close(() => r()));
    }
  });

  it("scores on threads when the model has them: the same scores", async () => {
    const threaded = await loadModel(join(dir, "m"));
    await threaded.setThreads(2);
    const s = await startScoringServer(threaded, 0);
    try {
      const p = Number(new URL(s.url).port);
      const body = JSON.stringify(records);
      const got = await new Promise<unknown>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: p, path: "/score", method: "POST", headers: { host: `127.0.0.1:${p}`, "content-type": "application/json" } }, (res) => {
          let t = "";
          res.on("data", (c: Buffer) => (t += c.toString("utf8")));
          res.on("end", () => resolve(JSON.parse(t)));
        });
        req.on("error", reject);
        req.end(body);
      });
      expect((got as { scores: unknown }).scores).toEqual(model.scoreSync(records));
    } finally {
      await new Promise<void>((r) => s.server.close(() => r()));
      await threaded.close();
    }
  });

  it("on threads, a request the network cannot score is a 400 naming its record, and the next request is served", async () => {
    const threaded = await loadModel(join(dir, "m"));
    // the bag's table 10 wide, so that a weight of 3e38 overflows float32 once pooled
    threaded.model.namedParameters().find(([n]) => n === "embeddings.recent_cats.weight")![1].data.fill(10);
    const want = threaded.scoreSync(records);
    await threaded.setThreads(2);
    const s = await startScoringServer(threaded, 0);
    try {
      const p = Number(new URL(s.url).port);
      const bad = records.map((r, i) => (i === 7 ? { ...r, recent_cats: "1:3e38" } : r));
      for (let k = 0; k < 2; k++) {
        const b = await call("/score", { body: JSON.stringify(bad), port: p });
        expect(b.status).toBe(400);
        expect((b.json as { error: string }).error).toBe('record 7: bag "recent_cats" pools to NaN or infinity (its weights times its embedding rows overflow float32); 4 such value(s) in the batch');
        // before, the worker's failed batch closed its lane, and every later request failed with it
        const good = await call("/score", { body: JSON.stringify(records), port: p });
        expect(good.status).toBe(200);
        expect((good.json as { scores: unknown }).scores).toEqual(want);
      }
    } finally {
      await new Promise<void>((r) => s.server.close(() => r()));
      await threaded.close();
    }
  });
});
