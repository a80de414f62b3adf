/**
 * The scoring endpoint's cost per request (`esmm serve --model`): `npm run build:bench && node
 * build/bench/score-server.js`. A model with the simulator's columns (hashed ids, untrained weights)
 * behind startScoringServer on loopback; one client sends POST /score requests one after another on a
 * kept-alive connection, with 1 and with 256 records each, and the same records go through
 * `scoreSync` directly, so the ratio is what HTTP and JSON add. Then eight clients at once, against a
 * server whose model scores on one thread and on two (setThreads(2)): requests and records per second.
 * The clients run in this process, on the server's own thread, so their work is counted against it.
 */
import { Agent, request } from "node:http";
import { ScoringModel } from "../src/index.js";
import { startScoringServer } from "../src/node/index.js";
import { appRecord as record, hashedScoringModel } from "./records.js";

const sm = hashedScoringModel();

const { server, url } = await startScoringServer(sm, 0);
const port = Number(new URL(url).port);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const post = (body: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/score", method: "POST", agent, headers: { host: `127.0.0.1:${port}`, "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end(body);
  });
const median = (a: number[]): number => a.slice().sort((x, y) => x - y)[a.length >> 1]!;
for (const n of [1, 256]) {
  const records = Array.from({ length: n }, (_, i) => record(i));
  const body = JSON.stringify(records);
  const http: number[] = [];
  const direct: number[] = [];
  for (let r = 0; r < 300; r++) {
    let t = performance.now();
    await post(body);
    if (r >= 50) http.push(performance.now() - t);
    t = performance.now();
    sm.scoreSync(records);
    if (r >= 50) direct.push(performance.now() - t);
  }
  console.log(`${n} record(s) a request: ${median(http).toFixed(3)} ms over HTTP (${(1000 / median(http)).toFixed(0)} requests/s, one client), ${median(direct).toFixed(3)} ms through scoreSync (HTTP / direct ${(median(http) / median(direct)).toFixed(2)}x), medians of 250`);
}
agent.destroy();
server.close();

for (const n of [1, 256]) {
  const rates: string[] = [];
  for (const threads of [1, 2]) {
    const m = new ScoringModel(sm.model, sm.preprocessor);
    await m.setThreads(threads);
    const s = await startScoringServer(m, 0);
    const p = Number(new URL(s.url).port);
    const many = new Agent({ keepAlive: true, maxSockets: 8 });
    const body = JSON.stringify(Array.from({ length: n }, (_, i) => record(i)));
    const send = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: p, path: "/score", method: "POST", agent: many, headers: { host: `127.0.0.1:${p}`, "content-type": "application/json" } }, (res) => {
          res.resume();
          res.on("end", () => resolve());
        });
        req.on("error", reject);
        req.end(body);
      });
    const each = n === 1 ? 400 : 40;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < each; i++) await send();
    }));
    const perSec = (8 * each) / ((performance.now() - t0) / 1e3);
    rates.push(`${threads} thread(s) ${perSec.toFixed(0)} requests/s (${(perSec * n).toFixed(0)} records/s)`);
    many.destroy();
    s.server.close();
    await m.close();
  }
  console.log(`${n} record(s) a request, 8 clients at once: ${rates.join(", ")}`);
}
