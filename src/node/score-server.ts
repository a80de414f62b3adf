/**
 * A scoring endpoint for a checkpoint (`esmm serve --model DIR`), for an app that would rather call a
 * local service than embed the library. JSON in, JSON out; no dependency:
 *
 *   POST /score  [record, ...] or { "records": [record, ...] }        -> { "scores": [{ pCtr, pCvr, pCtcvr, gates? }, ...] }
 *   POST /rank   { "user": record, "candidates": [record, ...], "by"?: "pCtcvr" | "pCtr" | "pCvr", "top"?: n }
 *                                                                       -> { "ranking": [{ index, pCtr, pCvr, pCtcvr, gates? }, ...] }
 *   GET  /model  what the model reads and is                           -> { name, bottom, objective, columns, strict, threads }
 *
 * Records are what `ScoringModel.score` takes (raw values by column), and the scores are its scores,
 * bit for bit. Written to stay up whatever a client sends:
 *  - a body over `maxBody` bytes is refused (413) as soon as it passes the limit, before it is parsed;
 *  - a POST must say `content-type: application/json`, else 415 (a page elsewhere can then not post
 *    to it without a CORS preflight, which this server does not grant);
 *  - bad JSON or a bad record is a 400 whose `error` names the record and the column; other methods
 *    405, other paths 404; any other failure a 500, and the server goes on;
 *  - as the static server, only Host headers naming this machine are answered when bound to loopback.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { RANK_BY, type FeatureRecord, type RankBy, type ScoringModel } from "../index.js";
import { hostCheck, listen } from "./http.js";
import { nearestName } from "../esmm/validate.js";

/** Options of `startScoringServer`. */
export interface ScoringServerOptions {
  /** The largest request body accepted, in bytes (default 16 MiB). */
  maxBody?: number;
  /** Accept any Host header (default: only loopback names, unless `host` is not a loopback address). */
  anyHost?: boolean;
}

/** A client's mistake: answered with its status and message, the server unharmed. */
class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The body of a request as text, refused (413) once it passes `max` bytes. The request is paused
 * there, not destroyed: its socket must still carry the answer.
 */
function body(req: IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > max) return Promise.reject(new RequestError(413, `the body is ${declared} bytes, more than the ${max} bytes this server takes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (e: RequestError): void => {
      if (settled) return;
      settled = true;
      req.pause();
      reject(e);
    };
    req.on("data", (c: Buffer) => {
      if (settled) return;
      size += c.length;
      if (size > max) fail(new RequestError(413, `the body is more than the ${max} bytes this server takes`));
      else chunks.push(c);
    });
    req.on("end", () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", () => fail(new RequestError(400, "the request broke off")));
    req.on("close", () => fail(new RequestError(400, "the request broke off")));
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** A 400 for a key of a request body the endpoint does not read (a slip such as "usr" would otherwise be ignored), naming the nearest it does. */
function onlyKeys(body: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const k of Object.keys(body)) {
    if (keys.includes(k)) continue;
    const near = nearestName(k, keys);
    throw new RequestError(400, `${JSON.stringify(k)} is not a key of ${what} (${keys.join(", ")})${near ? `; did you mean ${JSON.stringify(near)}?` : ""}`);
  }
}

/** Serves `model`'s scores over HTTP (see the top of this file). */
export function startScoringServer(model: ScoringModel, port: number, host = "127.0.0.1", opts: ScoringServerOptions = {}): Promise<{ server: Server; url: string }> {
  const maxBody = opts.maxBody ?? 16 * 1024 * 1024;
  const answers = hostCheck(host, opts.anyHost);
  const reply = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void => {
    const text = JSON.stringify(value);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), "cache-control": "no-store", "x-content-type-options": "nosniff", ...headers });
    res.end(text);
  };
  const routes: Record<string, { method: "GET" | "POST"; run: (input: unknown) => Promise<unknown> }> = {
    "/model": {
      method: "GET",
      run: async () => {
        const c = model.model.config;
        return { name: model.model.name, bottom: c.bottom, objective: c.objective, columns: model.columns, strict: model.strict, threads: model.threads };
      },
    },
    "/score": {
      method: "POST",
      run: async (input) => {
        if (isObject(input)) onlyKeys(input, ["records"], "a /score body");
        const records = Array.isArray(input) ? input : isObject(input) ? input.records : undefined;
        if (!Array.isArray(records)) throw new RequestError(400, 'the body must be an array of records, or { "records": [...] }');
        return { scores: await model.score(records as FeatureRecord[]) };
      },
    },
    "/rank": {
      method: "POST",
      run: async (input) => {
        if (!isObject(input)) throw new RequestError(400, 'the body must be { "user": {...}, "candidates": [...] }');
        onlyKeys(input, ["user", "candidates", "by", "top"], "a /rank body");
        const by = input.by ?? "pCtcvr";
        if (!(RANK_BY as readonly unknown[]).includes(by)) throw new RequestError(400, `"by" must be one of ${RANK_BY.join(", ")}, got ${JSON.stringify(by)}`);
        const top = input.top ?? null;
        if (top !== null && !(Number.isInteger(top) && (top as number) >= 1)) throw new RequestError(400, `"top" must be a positive integer, got ${JSON.stringify(top)}`);
        const candidates = input.candidates;
        if (!Array.isArray(candidates)) throw new RequestError(400, '"candidates" must be an array of records');
        const index = new Map(candidates.map((c, i) => [c, i]));
        const ranked = model.rank(input.user as FeatureRecord, candidates as FeatureRecord[], by as RankBy);
        return { ranking: ranked.slice(0, (top as number | null) ?? ranked.length).map((r) => ({ index: index.get(r.candidate)!, ...r.score })) };
      },
    },
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!answers(req)) throw new RequestError(421, "this server answers only to 127.0.0.1, localhost and [::1] with its port");
    const path = (req.url ?? "/").split(/[?#]/)[0]!;
    const route = routes[path];
    if (!route) throw new RequestError(404, `no such endpoint: ${path.slice(0, 200)} (POST /score, POST /rank, GET /model)`);
    if (req.method !== route.method) {
      res.setHeader("allow", route.method);
      throw new RequestError(405, `${path} takes ${route.method}`);
    }
    let input: unknown = null;
    if (route.method === "POST") {
      const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/json") throw new RequestError(415, `a POST must be content-type: application/json, got ${JSON.stringify(type)}`);
      const text = await body(req, maxBody);
      try {
        input = JSON.parse(text);
      } catch (e) {
        throw new RequestError(400, `the body is not JSON (${(e as Error).message})`);
      }
    }
    let value: unknown;
    try {
      value = await route.run(input);
    } catch (e) {
      // a record's mistake names the record and the column (ScoringModel's messages)
      throw e instanceof RequestError ? e : new RequestError(400, (e as Error).message);
    }
    reply(res, 200, value);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof RequestError ? e.status : 500;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // a body refused part-way is not read on: the connection closes once the answer is out
      if (status === 413) res.on("finish", () => req.destroy());
      reply(res, status, { error: e instanceof RequestError ? e.message : "internal error" }, status === 413 ? { connection: "close" } : {});
    });
  });
  server.requestTimeout = 60_000; // a client that sends its request slowly is cut off, not waited for
  return listen(server, port, host);
}
