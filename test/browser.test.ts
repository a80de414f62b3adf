/**
 * The browser demo in a real browser: Debian's Chromium driven headless by playwright-core. The page
 * trains esmm-mmoe in a Web Worker; the test checks the loss fell, that the page's losses and scores
 * equal what Node computes with the same code and seed, that a checkpoint loads from fetched bytes,
 * and that the page logs no error. Skipped, with one line, where /usr/bin/chromium is absent.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Debian's Chromium by default; ESMM_CHROMIUM points the test at another build. */
const CHROMIUM = process.env.ESMM_CHROMIUM ?? "/usr/bin/chromium";
const ROOT = join(import.meta.dirname, "..");
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.log("browser: skipped (no /usr/bin/chromium: apt-get install chromium)");

const OPTS = { steps: 40, seed: 3, batch: 128, trainRows: 4000, validRows: 2000, users: 300, apps: 100 };

interface PageResult {
  done: boolean;
  losses: number[];
  metrics: Record<string, number | null>;
  ranking: Array<{ app: number; pCtr: number; pCvr: number; pCtcvr: number; gatesCtr: number[]; gatesCvr: number[] }>;
  error?: string;
  backend?: string;
  threads?: number;
}

describe.skipIf(!hasChromium)("browser demo (Chromium, headless)", () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let browser: any;
  let server: { close: () => void };
  let url = "";
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let core: any;
  const ckDir = join(ROOT, "runs", "browser-test", "ckpt");
  let launchError: string | null = null;

  beforeAll(async () => {
    // The page loads the compiled core from dist/, which test/global-setup.ts has just built.
    const { startStaticServer } = await import("../src/node/static-server.js");
    const s = await startStaticServer(ROOT, 0);
    server = s.server;
    url = s.url;
    core = await import(pathToFileURL(join(ROOT, "examples", "browser", "demo-core.js")).href);
    const { chromium } = await import("playwright-core");
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
    } catch (e) {
      // An installed but unusable browser is the machine's problem, not the page's: say so and skip.
      launchError = (e as Error).message.split("\n")[0] ?? String(e);
      console.log(`browser: skipped (${CHROMIUM} failed to start: ${launchError})`);
    }
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    rmSync(join(ROOT, "runs", "browser-test"), { recursive: true, force: true });
  });

  async function open(query: string): Promise<{ result: PageResult; errors: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("console", (m: { type: () => string; text: () => string }) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e: Error) => errors.push(e.message));
    await page.goto(`${url}/examples/browser/?${query}`);
    await page.waitForFunction(() => (window as unknown as { __esmm: PageResult }).__esmm.done || (window as unknown as { __esmm: PageResult }).__esmm.error, undefined, { timeout: 120_000 });
    const result = (await page.evaluate(() => (window as unknown as { __esmm: PageResult }).__esmm)) as PageResult;
    await page.close();
    return { result, errors };
  }

  it("trains in a worker: the loss falls and every number equals Node's", async (ctx) => {
    if (launchError) ctx.skip();
    // one thread here (the page's default is every core where it is cross-origin isolated, below)
    const q = new URLSearchParams(Object.entries({ ...OPTS, auto: 1, threads: 1 }).map(([k, v]) => [k, String(v)])).toString();
    const { result, errors } = await open(q);
    expect(result.error).toBe(undefined);
    expect(errors).toEqual([]);
    // the page's worker runs the wasm backend (esmm serve's COOP/COEP make shared memory available)
    expect(result.backend).toBe("wasm");
    expect(result.threads).toBe(1);
    const node = core.trainAll(OPTS);
    expect(result.losses.length).toBe(OPTS.steps);
    const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(result.losses.slice(-10))).toBeLessThan(mean(result.losses.slice(0, 10)));
    // Same engine, same seed: the same bits (allowing 1e-6 for a Math function that differs by an ulp).
    result.losses.forEach((v, i) => expect(Math.abs(v - node.losses[i]), `loss ${i}`).toBeLessThanOrEqual(1e-6));
    const ranked = core.rankForUser(node.model, node.sim, 0, 20, null, node.vocab);
    expect(result.ranking.map((r) => r.app)).toEqual(ranked.map((r: { app: number }) => r.app));
    result.ranking.forEach((r, i) => {
      for (const k of ["pCtr", "pCvr", "pCtcvr"] as const) expect(Math.abs(r[k] - ranked[i][k]), `${k} ${i}`).toBeLessThanOrEqual(1e-6);
      expect(r.gatesCtr.length).toBe(2);
    });
    expect(result.metrics.ctrAuc).toBeCloseTo(node.metrics.ctrAuc, 6);

    // A checkpoint saved in Node loads in the page from fetched bytes and scores the same.
    const { saveCheckpoint } = await import("../src/node/index.js");
    mkdirSync(join(ROOT, "runs", "browser-test"), { recursive: true });
    await saveCheckpoint(ckDir, node.model);
    const loaded = await open(`checkpoint=/runs/browser-test/ckpt/&users=${OPTS.users}&apps=${OPTS.apps}&user=5`);
    expect(loaded.errors).toEqual([]);
    // the checkpoint holds the weights alone, not the vocabularies the demo fitted, so the page feeds it
    // the simulator's ids as they are; so does this
    const want = core.rankForUser(node.model, node.sim, 5, 20);
    loaded.result.ranking.forEach((r, i) => expect(Math.abs(r.pCtcvr - want[i].pCtcvr)).toBeLessThanOrEqual(1e-6));
  }, 180_000);

  it("scores a CLI-trained checkpoint through its vocabularies: the page's scores and gates are esmm predict --gates's", async (ctx) => {
    if (launchError) ctx.skip();
    const { main } = await import("../src/cli/main.js");
    const io = { out: () => undefined, err: () => undefined, isTTY: false };
    const base = join(ROOT, "runs", "browser-test");
    mkdirSync(base, { recursive: true });
    const csv = join(base, "cli-train.csv");
    const rows = join(base, "cli-rows.csv");
    const ck = join(base, "cli-ckpt");
    rmSync(ck, { recursive: true, force: true });
    expect(await main(["generate", "--rows", "3000", "--out", csv, "--users", String(OPTS.users), "--apps", String(OPTS.apps)], io)).toBe(0);
    expect(await main(["generate", "--rows", "200", "--stream", "1", "--out", rows, "--users", String(OPTS.users), "--apps", String(OPTS.apps)], io)).toBe(0);
    expect(await main(["train", "--train", csv, "--model", ck, "--epochs", "1", "--dim", "4", "--min-count", "2"], io)).toBe(0);
    const preds = join(base, "cli-preds.csv");
    expect(await main(["predict", "--model", ck, "--data", rows, "--out", preds, "--gates"], io)).toBe(0);
    const want = readFileSync(preds, "utf8").trimEnd().split("\n").slice(1).map((l) => l.split(",").map(Number));
    const { result, errors } = await open(`checkpoint=/runs/browser-test/cli-ckpt/&data=/runs/browser-test/cli-rows.csv&users=${OPTS.users}&apps=${OPTS.apps}&user=3`);
    expect(errors).toEqual([]);
    expect(result.error).toBe(undefined);
    const got = (result as unknown as { scored: Array<{ pCtr: number; pCvr: number; pCtcvr: number; gates: { ctr: number[]; cvr: number[] } }> }).scored;
    expect(got.length).toBe(200);
    got.forEach((s, i) => [s.pCtr, s.pCvr, s.pCtcvr, ...s.gates.ctr, ...s.gates.cvr].forEach((v, k) => expect(Math.abs(v - want[i]![k]!), `row ${i} column ${k}`).toBeLessThanOrEqual(1e-6)));
    // the same rows gzipped: the page decompresses them (DecompressionStream) and scores the same
    writeFileSync(`${rows}.gz`, gzipSync(readFileSync(rows)));
    const zipped = await open(`checkpoint=/runs/browser-test/cli-ckpt/&data=/runs/browser-test/cli-rows.csv.gz&users=${OPTS.users}&apps=${OPTS.apps}&user=3`);
    expect(zipped.errors).toEqual([]);
    expect((zipped.result as unknown as { scored: unknown }).scored).toEqual(got);
    // and its ranking goes through the same vocabularies (the simulator's rows as the CSV has them)
    const { loadModel } = await import(pathToFileURL(join(ROOT, "dist", "node", "index.js")).href);
    const scorer = await loadModel(ck);
    const ranked = core.rankForUser(scorer.model, core.makeSimulator({ ...core.DEFAULTS, users: OPTS.users, apps: OPTS.apps }), 3, 20, scorer);
    result.ranking.forEach((r, i) => expect(Math.abs(r.pCtcvr - ranked[i].pCtcvr)).toBeLessThanOrEqual(1e-6));
  }, 180_000);

  it("trains on two threads (Web Workers over shared memory): every loss and score equals Node's on two threads", async (ctx) => {
    if (launchError) ctx.skip();
    await import(pathToFileURL(join(ROOT, "dist", "node", "index.js")).href); // Node's worker threads, for dist/'s train()
    // the page's default where it is cross-origin isolated, as esmm serve makes it: every core (2 here), at most 4
    const q = new URLSearchParams(Object.entries({ ...OPTS, auto: 1, ...(cpus().length === 2 ? {} : { threads: 2 }) }).map(([k, v]) => [k, String(v)])).toString();
    const { result, errors } = await open(q);
    expect(result.error).toBe(undefined);
    expect(errors).toEqual([]);
    expect(result.threads).toBe(2);
    const node = await core.trainThreaded(OPTS, 2);
    expect(result.losses.length).toBe(OPTS.steps);
    result.losses.forEach((v, i) => expect(Math.abs(v - node.losses[i]), `loss ${i}`).toBeLessThanOrEqual(1e-6));
    const ranked = core.rankForUser(node.model, node.sim, 0, 20, null, node.vocab);
    expect(result.ranking.map((r) => r.app)).toEqual(ranked.map((r: { app: number }) => r.app));
    result.ranking.forEach((r, i) => expect(Math.abs(r.pCtcvr - ranked[i].pCtcvr), `pCtcvr ${i}`).toBeLessThanOrEqual(1e-6));
    // the validation metrics, scored on the page's threads (a worker takes chunks as it is free), are
    // Node's on two threads, and those of one thread scoring Node's model
    expect(result.metrics).toEqual(node.metrics);
    expect(node.metrics).toEqual(core.validation(node.model, node.vocab.dataset(core.makeSimulator({ ...core.DEFAULTS, ...OPTS }).dataset(OPTS.validRows, 1))));
    // and two threads train the model one thread does, within float rounding
    const one = core.trainAll(OPTS);
    result.losses.forEach((v, i) => expect(Math.abs(v - one.losses[i]), `loss ${i} vs one thread`).toBeLessThanOrEqual(1e-4));
  }, 180_000);
});
