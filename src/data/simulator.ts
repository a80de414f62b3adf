/**
 * AppS: a seeded simulator of the app store's "Guess You Like" feed, with ground truth.
 *
 * A fixed WORLD (users and apps with latent tastes and attributes) is drawn once from `seed`; any
 * number of IMPRESSION STREAMS are then drawn from it (train, validation and test use different
 * streams of the same world), in constant memory: rows are generated one at a time.
 *
 * Generative model (all effects on the logit scale; see docs/simulator.md for the full table):
 *   user u:  taste t_u in R^8, age, gender, device, region, activity, price sensitivity s_u in [0, 1],
 *            icon susceptibility k_u, three favourite categories (also the bag `recent_cats`), tenure
 *   app a:   taste t_a in R^8, category, developer, price bucket (0 = free, about 70% of apps),
 *            quality q_a, rating bucket (from quality), size bucket, icon appeal i_a, downloads
 *   impression: user ~ Zipf, app ~ Zipf (half the time within a favourite category), position 0..19,
 *            hour (diurnal), page (home / category / search)
 *
 *   click:       z_c = c0 + <t_u, t_a> + 0.8 fav + 0.3 (rating - 2) - 0.12 position + page_c + hour_c
 *                      + 0.15 activity + 0.25 log-popularity + bias * 0.9 * k_u * i_a
 *   conversion | click:
 *                z_v = v0 + <t_u, t_a> + 0.5 fav + 0.9 q_a - 0.6 s_u * price - 0.5 [big app on a low-end phone]
 *                      + page_v - bias * 0.9 * i_a
 *
 * Different drivers: position and eye-catching icons raise clicks but not installs (icons even lower
 * them: they lure low-intent clicks); price lowers conversion for price-sensitive users but not
 * clicks. So the clicked sample over-represents eye-catching apps at top positions, and a CVR model
 * fitted to clicked rows only learns a biased picture of the entire space. `bias` scales that effect.
 * The intercepts c0 and v0 are solved by bisection so that the mean CTR and the CVR after a click hit
 * the requested rates on a calibration sample.
 *
 * Every row carries its true pCTR = sigmoid(z_c) and pCVR = sigmoid(z_v), defined on EVERY impression,
 * which makes the entire-space CVR quality measurable.
 */
import { Rng, sigmoidScalar } from "../tensor/index.js";
import { Dataset, FieldError, expectFloat, expectInt, expectObject, type Bag, type Batch } from "../esmm/index.js";
import type { FieldSpec } from "../esmm/index.js";

/** The simulated world: its seed, sizes, target rates, the strength of selection bias, and popularity. */
export interface SimulatorOptions {
  /** Seeds the world (users, apps, effects). */
  seed?: number;
  users?: number;
  apps?: number;
  categories?: number;
  /** Target mean click rate over impressions. Default 0.05. */
  ctr?: number;
  /** Target conversion rate among clicks. Default 0.12. */
  cvr?: number;
  /** Strength of the selection-bias drivers (icon appeal, which raises clicks and lowers conversion). Default 1. */
  bias?: number;
  /** Zipf exponents of user and app popularity. Default 1.05. */
  zipf?: number;
}

/**
 * A simulated world's settings as JSON holds them (what `esmm generate` writes into a file's schema
 * sidecar, and `esmm train` into the checkpoint trained on it), each key checked; `at` names the
 * place in errors. Every key of `SimulatorOptions` is required, so a record names one world exactly.
 */
export function simulatorOptionsFromJSON(v: unknown, at: string): Required<SimulatorOptions> {
  const o = expectObject(v, at);
  const keys = ["seed", "users", "apps", "categories", "ctr", "cvr", "bias", "zipf"] as const;
  for (const k of Object.keys(o)) if (!(keys as readonly string[]).includes(k)) throw new FieldError(`${at}.${k}`, "is not a setting of the simulator");
  // sizes bounded, as a checkpoint's are, so that a crafted record cannot ask for gigabytes of world
  const int = (k: string, min: number): number => expectInt(o[k], `${at}.${k}`, min, 2 ** 24);
  const rate = (k: string): number => {
    const x = expectFloat(o[k], `${at}.${k}`, { positive: true });
    if (x >= 1) throw new FieldError(`${at}.${k}`, `must be in (0, 1), got ${x}`);
    return x;
  };
  return {
    seed: expectInt(o.seed, `${at}.seed`, -(2 ** 53), 2 ** 53),
    users: int("users", 1),
    apps: int("apps", 1),
    categories: int("categories", 1),
    ctr: rate("ctr"),
    cvr: rate("cvr"),
    bias: expectFloat(o.bias, `${at}.bias`, { min: 0 }),
    zipf: expectFloat(o.zipf, `${at}.zipf`, { positive: true }),
  };
}

/** One simulated impression. `ids` follow `SINGLE_FIELDS`, `dense` follows `DENSE_FEATURES`. */
export interface SimRow {
  ids: Int32Array;
  recentCats: { ids: Int32Array; weights: Float32Array };
  dense: Float32Array;
  click: number;
  conversion: number;
  truePctr: number;
  truePcvr: number;
}

/** The single-valued fields of a simulated impression, in the order of `SimRow.ids`. */
export const SINGLE_FIELDS = [
  "user_id", "age", "gender", "device", "region", "activity",
  "app_id", "category", "developer", "price", "rating", "size",
  "position", "hour", "page",
] as const;
/** The multi-valued fields of a simulated impression (the user's favourite categories). */
export const MULTI_FIELDS = ["recent_cats"] as const;
/** The dense features of a simulated impression, in the order of `SimRow.dense`. */
export const DENSE_FEATURES = ["app_downloads", "user_tenure"] as const;

const K = 8;
const POSITIONS = 20;
const PAGES = 3;

interface World {
  nUsers: number;
  nApps: number;
  nCats: number;
  nDevs: number;
  nRegions: number;
  userTaste: Float32Array;
  userAttr: Int32Array; // [age, gender, device, region, activity]
  userPriceSens: Float32Array;
  userIconSus: Float32Array;
  userFav: Int32Array; // 3 per user
  userFavCount: Float32Array; // 3 per user
  userTenure: Float32Array;
  appTaste: Float32Array;
  appAttr: Int32Array; // [category, developer, price, rating, size]
  appQuality: Float32Array;
  appIcon: Float32Array;
  appPop: Float32Array; // log popularity (centred)
  appDownloads: Float32Array;
  userCdf: Float64Array;
  appCdf: Float64Array;
  catApps: Int32Array[];
  catCdf: Float64Array[];
  hourCdf: Float64Array;
  pageCdf: Float64Array;
  hourClick: Float32Array;
  pageClick: Float32Array;
  pageConv: Float32Array;
}

function zipfCdf(n: number, s: number): Float64Array {
  const c = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += 1 / Math.pow(i + 1, s);
    c[i] = acc;
  }
  for (let i = 0; i < n; i++) c[i] = c[i]! / acc;
  return c;
}

function cdfOf(weights: number[]): Float64Array {
  const c = new Float64Array(weights.length);
  let acc = 0;
  weights.forEach((w, i) => {
    acc += w;
    c[i] = acc;
  });
  return c.map((v) => v / acc);
}

function draw(cdf: Float64Array, rng: Rng): number {
  const u = rng.next();
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const sigmoid = sigmoidScalar;

function buildWorld(o: Required<SimulatorOptions>): World {
  const rng = new Rng(o.seed);
  const nUsers = o.users;
  const nApps = o.apps;
  const nCats = o.categories;
  const nDevs = Math.max(1, Math.floor(nApps / 5));
  const nRegions = 16;
  const userTaste = new Float32Array(nUsers * K);
  const userAttr = new Int32Array(nUsers * 5);
  const userPriceSens = new Float32Array(nUsers);
  const userIconSus = new Float32Array(nUsers);
  const userFav = new Int32Array(nUsers * 3);
  const userFavCount = new Float32Array(nUsers * 3);
  const userTenure = new Float32Array(nUsers);
  const tasteStd = 0.9 / Math.sqrt(Math.sqrt(K)); // <t_u, t_a> has std about 0.9^2
  for (let u = 0; u < nUsers; u++) {
    for (let k = 0; k < K; k++) userTaste[u * K + k] = rng.normal(0, tasteStd);
    const device = rng.int(4); // 0 low-end android, 1 high-end android, 2 iphone, 3 tablet
    userAttr[u * 5] = rng.int(7);
    userAttr[u * 5 + 1] = rng.int(3);
    userAttr[u * 5 + 2] = device;
    userAttr[u * 5 + 3] = rng.int(nRegions);
    // popular (low-rank) users are more active
    userAttr[u * 5 + 4] = Math.min(4, Math.floor(rng.uniform(0, 2) + 3 * (1 - u / nUsers)));
    const base = device === 0 ? 0.75 : device === 2 ? 0.25 : 0.5;
    userPriceSens[u] = Math.min(1, Math.max(0, base + rng.normal(0, 0.2)));
    userIconSus[u] = Math.max(0, rng.normal(1, 0.4));
    for (let j = 0; j < 3; j++) {
      userFav[u * 3 + j] = rng.int(nCats);
      userFavCount[u * 3 + j] = 1 + rng.int(5);
    }
    userTenure[u] = Math.floor(rng.uniform(0, 2000));
  }
  const appTaste = new Float32Array(nApps * K);
  const appAttr = new Int32Array(nApps * 5);
  const appQuality = new Float32Array(nApps);
  const appIcon = new Float32Array(nApps);
  const appPop = new Float32Array(nApps);
  const appDownloads = new Float32Array(nApps);
  const catLists: number[][] = Array.from({ length: nCats }, () => []);
  for (let a = 0; a < nApps; a++) {
    for (let k = 0; k < K; k++) appTaste[a * K + k] = rng.normal(0, tasteStd);
    const dev = rng.int(nDevs);
    // a developer mostly publishes in one category
    const cat = rng.bernoulli(0.7) ? dev % nCats : rng.int(nCats);
    const q = rng.normal(0, 1);
    appAttr[a * 5] = cat;
    appAttr[a * 5 + 1] = dev;
    appAttr[a * 5 + 2] = rng.bernoulli(0.7) ? 0 : 1 + rng.int(5);
    appAttr[a * 5 + 3] = Math.min(4, Math.max(0, Math.round(2 + 0.8 * q + rng.normal(0, 0.6))));
    appAttr[a * 5 + 4] = rng.int(5);
    appQuality[a] = q;
    appIcon[a] = rng.normal(0, 1);
    appPop[a] = -Math.log(a + 1) / Math.log(nApps) + 0.5;
    appDownloads[a] = Math.max(0, 7 - 5 * (Math.log(a + 1) / Math.log(nApps)) + rng.normal(0, 0.3));
    catLists[cat]!.push(a);
  }
  const hourW = Array.from({ length: 24 }, (_, h) => 1 + Math.sin(((h - 6) / 24) * 2 * Math.PI) * 0.6 + (h >= 19 && h <= 22 ? 0.5 : 0));
  const hourClick = new Float32Array(24);
  for (let h = 0; h < 24; h++) hourClick[h] = h >= 19 && h <= 23 ? 0.2 : h <= 5 ? -0.2 : 0;
  return {
    nUsers, nApps, nCats, nDevs, nRegions,
    userTaste, userAttr, userPriceSens, userIconSus, userFav, userFavCount, userTenure,
    appTaste, appAttr, appQuality, appIcon, appPop, appDownloads,
    userCdf: zipfCdf(nUsers, o.zipf),
    appCdf: zipfCdf(nApps, o.zipf),
    catApps: catLists.map((l) => Int32Array.from(l.length ? l : [0])),
    catCdf: catLists.map((l) => zipfCdf(Math.max(l.length, 1), o.zipf)),
    hourCdf: cdfOf(hourW),
    pageCdf: cdfOf([0.6, 0.25, 0.15]),
    hourClick,
    pageClick: Float32Array.of(0, 0.2, 0.6),
    pageConv: Float32Array.of(0, 0.2, 0.8),
  };
}

/** The impression before intercepts: everything needed for both logits. */
interface Draft {
  u: number;
  a: number;
  position: number;
  hour: number;
  page: number;
  zc: number; // click logit without c0
  zv: number; // conversion logit without v0
}

/** The AppS simulator: a seeded world of users and apps and any number of impression streams from it, with the true click and conversion probability of every impression (see the top of this file). */
export class AppStoreSimulator {
  readonly options: Required<SimulatorOptions>;
  private readonly w: World;
  /** Solved intercepts of the click and conversion logits. */
  readonly c0: number;
  readonly v0: number;

  constructor(opts: SimulatorOptions = {}) {
    this.options = {
      seed: opts.seed ?? 7,
      users: opts.users ?? 20_000,
      apps: opts.apps ?? 4_000,
      categories: opts.categories ?? 24,
      ctr: opts.ctr ?? 0.05,
      cvr: opts.cvr ?? 0.12,
      bias: opts.bias ?? 1,
      zipf: opts.zipf ?? 1.05,
    };
    const o = this.options;
    for (const [k, v] of [["ctr", o.ctr], ["cvr", o.cvr]] as const) {
      if (!(v > 0 && v < 1)) throw new Error(`simulator: ${k} must be in (0, 1), got ${v}`);
    }
    for (const [k, v] of [["users", o.users], ["apps", o.apps], ["categories", o.categories]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`simulator: ${k} must be a positive integer, got ${v}`);
    }
    if (!(o.bias >= 0)) throw new Error(`simulator: bias must be >= 0, got ${o.bias}`);
    this.w = buildWorld(o);
    // Calibrate the intercepts on a fixed sample of impressions (its own stream).
    const rng = new Rng(o.seed ^ 0x5eed);
    const n = 20_000;
    const zc = new Float64Array(n);
    const zv = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = this.draft(rng);
      zc[i] = d.zc;
      zv[i] = d.zv;
    }
    this.c0 = bisect((c) => mean(zc, (z) => sigmoid(z + c)) - o.ctr);
    const pc = Float64Array.from(zc, (z) => sigmoid(z + this.c0));
    const clicks = pc.reduce((s, v) => s + v, 0);
    this.v0 = bisect((v) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += pc[i]! * sigmoid(zv[i]! + v);
      return s / clicks - o.cvr;
    });
  }

  /** The model's field specs for the simulator's schema (vocabularies = cardinalities). */
  fieldSpecs(): FieldSpec[] {
    const w = this.w;
    const card: Record<(typeof SINGLE_FIELDS)[number], number> = {
      user_id: w.nUsers, age: 7, gender: 3, device: 4, region: w.nRegions, activity: 5,
      app_id: w.nApps, category: w.nCats, developer: w.nDevs, price: 6, rating: 5, size: 5,
      position: POSITIONS, hour: 24, page: PAGES,
    };
    return [
      ...SINGLE_FIELDS.map((name) => ({ name, vocab: card[name], kind: "single" as const })),
      { name: "recent_cats", vocab: w.nCats, kind: "multi" as const, pooling: "sum" as const },
    ];
  }

  private draft(rng: Rng): Draft {
    const w = this.w;
    const u = draw(w.userCdf, rng);
    let a: number;
    if (rng.bernoulli(0.5)) {
      const cat = w.userFav[u * 3 + rng.int(3)]!;
      a = w.catApps[cat]![draw(w.catCdf[cat]!, rng)]!;
    } else {
      a = draw(w.appCdf, rng);
    }
    const position = rng.int(POSITIONS);
    const hour = draw(w.hourCdf, rng);
    const page = draw(w.pageCdf, rng);
    const { zc, zv } = this.logits(u, a, position, hour, page);
    return { u, a, position, hour, page, zc, zv };
  }

  /** The two logits of the ground-truth model, without the intercepts (see the file comment). */
  private logits(u: number, a: number, position: number, hour: number, page: number): { zc: number; zv: number } {
    const w = this.w;
    const bias = this.options.bias;
    const cat = w.appAttr[a * 5]!;
    let fav = 0;
    for (let j = 0; j < 3; j++) if (w.userFav[u * 3 + j] === cat) fav = 1;
    let dot = 0;
    for (let k = 0; k < K; k++) dot += w.userTaste[u * K + k]! * w.appTaste[a * K + k]!;
    const rating = w.appAttr[a * 5 + 3]!;
    const price = w.appAttr[a * 5 + 2]!;
    const size = w.appAttr[a * 5 + 4]!;
    const device = w.userAttr[u * 5 + 2]!;
    const activity = w.userAttr[u * 5 + 4]!;
    const icon = w.appIcon[a]!;
    const zc =
      dot + 0.8 * fav + 0.3 * (rating - 2) - 0.12 * position + w.pageClick[page]! + w.hourClick[hour]! +
      0.15 * (activity - 2) + 0.25 * w.appPop[a]! + bias * 0.9 * w.userIconSus[u]! * icon;
    const zv =
      dot + 0.5 * fav + 0.9 * w.appQuality[a]! - 0.6 * w.userPriceSens[u]! * price - (size >= 3 && device === 0 ? 0.5 : 0) +
      w.pageConv[page]! - bias * 0.9 * icon;
    return { zc, zv };
  }

  /**
   * A stream of impressions: `stream` picks an independent sequence of the same world (e.g. 0 train,
   * 1 validation, 2 test). Constant memory: each row is built, yielded and forgotten.
   */
  *rows(n: number, stream = 0): Generator<SimRow> {
    const w = this.w;
    const rng = new Rng(((this.options.seed * 1_000_003) ^ (stream * 7919 + 17)) >>> 0);
    for (let i = 0; i < n; i++) {
      const d = this.draft(rng);
      const pc = sigmoid(d.zc + this.c0);
      const pv = sigmoid(d.zv + this.v0);
      const click = rng.bernoulli(pc) ? 1 : 0;
      // Draw the conversion coin for every row so the stream does not depend on clicks.
      const wouldConvert = rng.bernoulli(pv) ? 1 : 0;
      const ua = d.u * 5;
      const aa = d.a * 5;
      const ids = Int32Array.of(
        d.u, w.userAttr[ua]!, w.userAttr[ua + 1]!, w.userAttr[ua + 2]!, w.userAttr[ua + 3]!, w.userAttr[ua + 4]!,
        d.a, w.appAttr[aa]!, w.appAttr[aa + 1]!, w.appAttr[aa + 2]!, w.appAttr[aa + 3]!, w.appAttr[aa + 4]!,
        d.position, d.hour, d.page,
      );
      yield {
        ids,
        recentCats: { ids: w.userFav.slice(d.u * 3, d.u * 3 + 3), weights: w.userFavCount.slice(d.u * 3, d.u * 3 + 3) },
        dense: Float32Array.of(w.appDownloads[d.a]!, w.userTenure[d.u]!),
        click,
        conversion: click * wouldConvert,
        truePctr: pc,
        truePcvr: pv,
      };
    }
  }

  /**
   * The ground truth for any candidate: the true P(click) of showing `app` to `user` at `position`
   * (0 = the top slot) in a context (hour, page), and the true P(install | click). The very numbers a
   * generated row carries as true_pctr / true_pcvr for its (user, app, position, hour, page).
   */
  truth(user: number, app: number, position: number, ctx: { hour: number; page: number }): { pCtr: number; pCvr: number } {
    const w = this.w;
    if (!Number.isInteger(user) || user < 0 || user >= w.nUsers) throw new Error(`simulator: user ${user} is not in 0..${w.nUsers - 1}`);
    if (!Number.isInteger(app) || app < 0 || app >= w.nApps) throw new Error(`simulator: app ${app} is not in 0..${w.nApps - 1}`);
    if (!Number.isInteger(position) || position < 0 || position >= POSITIONS) throw new Error(`simulator: position ${position} is not in 0..${POSITIONS - 1}`);
    if (!Number.isInteger(ctx.hour) || ctx.hour < 0 || ctx.hour > 23) throw new Error(`simulator: hour ${ctx.hour} is not in 0..23`);
    if (!Number.isInteger(ctx.page) || ctx.page < 0 || ctx.page >= PAGES) throw new Error(`simulator: page ${ctx.page} is not in 0..${PAGES - 1}`);
    const l = this.logits(user, app, position, ctx.hour, ctx.page);
    return { pCtr: sigmoid(l.zc + this.c0), pCvr: sigmoid(l.zv + this.v0) };
  }

  /**
   * One user session of the feed, as the traffic draws it: a user (by activity, as impressions
   * do), an hour and a page, and `n` distinct candidate apps retrieved as the impression stream
   * retrieves them: half from the user's favourite categories (personalised), half by global
   * popularity. Deterministic in `rng`.
   */
  session(rng: Rng, n: number): { user: number; hour: number; page: number; candidates: Int32Array } {
    const w = this.w;
    if (!Number.isInteger(n) || n < 1 || n > w.nApps) throw new Error(`simulator: a session needs 1..${w.nApps} candidates, got ${n}`);
    const user = draw(w.userCdf, rng);
    const hour = draw(w.hourCdf, rng);
    const page = draw(w.pageCdf, rng);
    const seen = new Set<number>();
    const candidates = new Int32Array(n);
    for (let k = 0, tries = 0; k < n; tries++) {
      let a: number;
      // after many repeats (a tiny world), fall back to uniform draws so the loop always ends
      if (tries > 50 * n) a = rng.int(w.nApps);
      else if (rng.bernoulli(0.5)) {
        const cat = w.userFav[user * 3 + rng.int(3)]!;
        a = w.catApps[cat]![draw(w.catCdf[cat]!, rng)]!;
      } else a = draw(w.appCdf, rng);
      if (seen.has(a)) continue;
      seen.add(a);
      candidates[k++] = a;
    }
    return { user, hour, page, candidates };
  }

  /** What an install of `app` is worth to the store, for value-weighted ranking: 1 for a free app, 1 + its price bucket for a paid one. */
  appValue(app: number): number {
    return 1 + this.w.appAttr[app * 5 + 2]!;
  }

  /**
   * The candidates as feature records with the columns `esmm generate` writes (ids as text, the bag
   * as "id:count|...", dense as numbers), for scoring with a checkpoint's own vocabularies.
   */
  candidateRecords(user: number, apps: readonly number[], ctx: { hour?: number; page?: number; position?: number } = {}): Array<Record<string, string | number>> {
    const { batch } = this.candidates(user, apps, ctx);
    const Fs = SINGLE_FIELDS.length;
    const bag = batch.bags[0]!;
    return apps.map((_, i) => {
      const r: Record<string, string | number> = {};
      SINGLE_FIELDS.forEach((f, j) => (r[f] = String(batch.ids[i * Fs + j])));
      const parts: string[] = [];
      for (let k = bag.offsets[i]!; k < bag.offsets[i + 1]!; k++) parts.push(`${bag.ids[k]}:${bag.weights![k]}`);
      r.recent_cats = parts.join("|");
      r.app_downloads = batch.dense![i * 2]!;
      r.user_tenure = batch.dense![i * 2 + 1]!;
      return r;
    });
  }

  /** Number of simulated users and apps (ids are 0 .. n-1). */
  get size(): { users: number; apps: number } {
    return { users: this.w.nUsers, apps: this.w.nApps };
  }

  /**
   * A batch that shows `apps` to `user` in that order (position = index, capped at 19; or every row
   * at `ctx.position`, as a ranker scores candidates before it places them), for ranking a user's
   * candidates. Rows carry the true pCTR and pCVR too, as `truth`.
   */
  candidates(user: number, apps: readonly number[], ctx: { hour?: number; page?: number; position?: number } = {}): { batch: Batch; truth: Array<{ pCtr: number; pCvr: number }> } {
    const w = this.w;
    if (!Number.isInteger(user) || user < 0 || user >= w.nUsers) throw new Error(`simulator: user ${user} is not in 0..${w.nUsers - 1}`);
    const hour = ctx.hour ?? 20;
    const page = ctx.page ?? 0;
    const Fs = SINGLE_FIELDS.length;
    const ids = new Int32Array(apps.length * Fs);
    const offsets = new Int32Array(apps.length + 1);
    const bagIds: number[] = [];
    const bagW: number[] = [];
    const dense = new Float32Array(apps.length * DENSE_FEATURES.length);
    const truth: Array<{ pCtr: number; pCvr: number }> = [];
    apps.forEach((a, i) => {
      if (!Number.isInteger(a) || a < 0 || a >= w.nApps) throw new Error(`simulator: app ${a} is not in 0..${w.nApps - 1}`);
      const position = ctx.position ?? Math.min(i, POSITIONS - 1);
      const ua = user * 5;
      const aa = a * 5;
      ids.set([user, w.userAttr[ua]!, w.userAttr[ua + 1]!, w.userAttr[ua + 2]!, w.userAttr[ua + 3]!, w.userAttr[ua + 4]!,
        a, w.appAttr[aa]!, w.appAttr[aa + 1]!, w.appAttr[aa + 2]!, w.appAttr[aa + 3]!, w.appAttr[aa + 4]!, position, hour, page], i * Fs);
      for (let j = 0; j < 3; j++) {
        bagIds.push(w.userFav[user * 3 + j]!);
        bagW.push(w.userFavCount[user * 3 + j]!);
      }
      offsets[i + 1] = bagIds.length;
      dense[i * 2] = w.appDownloads[a]!;
      dense[i * 2 + 1] = w.userTenure[user]!;
      const l = this.logits(user, a, position, hour, page);
      truth.push({ pCtr: sigmoid(l.zc + this.c0), pCvr: sigmoid(l.zv + this.v0) });
    });
    return {
      batch: { size: apps.length, ids, bags: [{ offsets, ids: Int32Array.from(bagIds), weights: Float32Array.from(bagW) }], dense },
      truth,
    };
  }

  /** n impressions of one stream as an in-memory Dataset (user ids kept for GAUC, ground truth attached). */
  dataset(n: number, stream = 0): Dataset {
    const Fs = SINGLE_FIELDS.length;
    const Nd = DENSE_FEATURES.length;
    const ids = new Int32Array(n * Fs);
    const dense = new Float32Array(n * Nd);
    const click = new Float32Array(n);
    const conversion = new Float32Array(n);
    const user = new Int32Array(n);
    const tp = new Float32Array(n);
    const tv = new Float32Array(n);
    const offsets = new Int32Array(n + 1);
    const bagIds: number[] = [];
    const bagW: number[] = [];
    let i = 0;
    for (const r of this.rows(n, stream)) {
      ids.set(r.ids, i * Fs);
      dense.set(r.dense, i * Nd);
      click[i] = r.click;
      conversion[i] = r.conversion;
      user[i] = r.ids[0]!;
      tp[i] = r.truePctr;
      tv[i] = r.truePcvr;
      for (let j = 0; j < r.recentCats.ids.length; j++) {
        bagIds.push(r.recentCats.ids[j]!);
        bagW.push(r.recentCats.weights[j]!);
      }
      offsets[i + 1] = bagIds.length;
      i++;
    }
    const bag: Bag = { offsets, ids: Int32Array.from(bagIds), weights: Float32Array.from(bagW) };
    return new Dataset(n, ids, Fs, [bag], dense, Nd, click, conversion, user, tp, tv);
  }
}

function mean(a: Float64Array, f: (v: number) => number): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += f(a[i]!);
  return s / a.length;
}

/** Root of an increasing function on [-30, 30] by bisection. */
function bisect(f: (x: number) => number): number {
  let lo = -30;
  let hi = 30;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    if (f(mid) > 0) hi = mid;
    else lo = mid;
  }
  return (lo + hi) / 2;
}

/** Mean and standard deviation of each dense column (for the model's standardisation). */
export function denseStats(ds: Dataset): { mean: number[]; std: number[] } {
  const Nd = ds.numDense;
  const m = new Array<number>(Nd).fill(0);
  const s = new Array<number>(Nd).fill(0);
  if (!ds.dense || ds.size === 0) return { mean: m, std: m.map(() => 1) };
  for (let i = 0; i < ds.size; i++) for (let j = 0; j < Nd; j++) m[j]! += ds.dense[i * Nd + j]!;
  for (let j = 0; j < Nd; j++) m[j] = m[j]! / ds.size;
  for (let i = 0; i < ds.size; i++) for (let j = 0; j < Nd; j++) s[j]! += (ds.dense[i * Nd + j]! - m[j]!) ** 2;
  return { mean: m, std: s.map((v) => Math.sqrt(v / ds.size) || 1) };
}
