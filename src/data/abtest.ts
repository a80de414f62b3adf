/**
 * A simulated A/B test of the "Guess You Like" feed: the app store's own yardstick (installs per
 * user), run offline because the simulator knows the true click and install probability of every
 * (user, app, position, context).
 *
 *   1. Draw N user sessions from the simulator's traffic, each with C distinct candidate apps
 *      retrieved as the simulator's own feed retrieves them (AppStoreSimulator.session).
 *   2. Each arm scores every session's candidates (a model scores them all at the top position, as a
 *      ranker does before it places them) and shows its top K at positions 0..K-1.
 *   3. The arm's outcome for the session is exact, not sampled: the expected installs
 *        sum_{k < K} P(click | user, app_k, position k, context) x P(install | click, user, app_k)
 *      from the truth; clicks likewise. (A sampled mode draws the coins instead, to show the noise
 *      a real test would have.)
 * Every arm sees the same sessions and the same candidates, so arm B's lift over arm A comes with a
 * paired interval over sessions. Arms without a model: `oracle` places candidates to maximise the
 * true expected installs exactly (an assignment problem over candidates x positions, solved by the
 * Hungarian method: the ceiling no ranking can beat), `popular` by global popularity (the
 * simulator's app ids are popularity ranks) and `random` in a seeded random order (floors).
 */
import { Rng } from "../tensor/index.js";
import { meanOf, pairedDifference, type Batch } from "../esmm/index.js";
import type { AppStoreSimulator } from "./simulator.js";

/** One user session of the simulated feed: the user, the context (hour, page) and the candidate apps retrieved for it. */
export interface AbSession {
  user: number;
  hour: number;
  page: number;
  candidates: Int32Array;
}

/** The size of a simulated A/B test: sessions, candidates per session, apps shown per session (at most 20), and the seed of the sessions. */
export interface AbSettings {
  sessions: number;
  candidates: number;
  top: number;
  seed: number;
}

/** The sessions of a test: the same for every arm, deterministic in the seed. */
export function drawSessions(sim: AppStoreSimulator, o: AbSettings): AbSession[] {
  if (!Number.isInteger(o.top) || o.top < 1 || o.top > Math.min(o.candidates, 20)) throw new Error(`abtest: top must be an integer in 1..min(candidates, 20), got ${o.top}`);
  const rng = new Rng(o.seed);
  return Array.from({ length: o.sessions }, () => sim.session(rng, o.candidates));
}

/** What an arm ranks by: a probability, or pCTCVR times the install's value to the store. */
export type AbRankBy = "pCtcvr" | "pCtr" | "pCvr" | "value";
/** Every `AbRankBy`. */
export const AB_RANK_BY: readonly AbRankBy[] = ["pCtcvr", "pCtr", "pCvr", "value"];

/** A model's scores of one session's candidates (any engine: an Esmm, a checkpoint, ...). */
export interface CandidateScores {
  pCtr: ArrayLike<number>;
  pCvr: ArrayLike<number>;
  pCtcvr: ArrayLike<number>;
}

/** The number each candidate is ranked by (higher first). */
export function rankingScore(sim: AppStoreSimulator, s: AbSession, sc: CandidateScores, by: AbRankBy): Float64Array {
  const out = new Float64Array(s.candidates.length);
  for (let c = 0; c < out.length; c++) {
    out[c] = by === "pCtr" ? sc.pCtr[c]! : by === "pCvr" ? sc.pCvr[c]! : by === "pCtcvr" ? sc.pCtcvr[c]! : sc.pCtcvr[c]! * sim.appValue(s.candidates[c]!);
  }
  return out;
}

/** The K best candidates by score, best first; ties go to the earlier candidate (deterministic). */
export function topByScore(score: ArrayLike<number>, top: number): Int32Array {
  const idx = Array.from({ length: score.length }, (_, i) => i);
  idx.sort((a, b) => score[b]! - score[a]! || a - b);
  return Int32Array.from(idx.slice(0, top));
}

/**
 * Maximum-weight assignment of `rows` positions to `cols` >= rows candidates (weight w[p][c]), by the
 * Hungarian method on costs -w (potentials u, v; O(rows^2 cols)). Returns the candidate of each position.
 */
export function bestAssignment(w: Float64Array, rows: number, cols: number): Int32Array {
  const INF = Number.POSITIVE_INFINITY;
  const u = new Float64Array(rows + 1);
  const v = new Float64Array(cols + 1);
  const p = new Int32Array(cols + 1); // p[j]: the row matched to column j (1-based; 0 = none)
  const way = new Int32Array(cols + 1);
  const cost = (i: number, j: number): number => -w[(i - 1) * cols + (j - 1)]!;
  for (let i = 1; i <= rows; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(cols + 1).fill(INF);
    const used = new Uint8Array(cols + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = INF;
      let j1 = 0;
      for (let j = 1; j <= cols; j++) {
        if (used[j]) continue;
        const cur = cost(i0, j) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= cols; j++) {
        if (used[j]) {
          u[p[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0);
  }
  const out = new Int32Array(rows);
  for (let j = 1; j <= cols; j++) if (p[j]) out[p[j]! - 1] = j - 1;
  return out;
}

/** The oracle's placement of a session: the K candidates and positions with the most true expected installs. */
export function oracleOrder(sim: AppStoreSimulator, s: AbSession, top: number): Int32Array {
  const C = s.candidates.length;
  const w = new Float64Array(top * C);
  for (let c = 0; c < C; c++) {
    const pv = sim.truth(s.user, s.candidates[c]!, 0, s).pCvr;
    for (let k = 0; k < top; k++) w[k * C + c] = sim.truth(s.user, s.candidates[c]!, k, s).pCtr * pv;
  }
  return bestAssignment(w, top, C);
}

/** Per session: what showing `shown` (candidate indices, position order) yields. */
export interface ArmOutcome {
  installs: Float64Array;
  clicks: Float64Array;
  /** Expected installs weighted by their value to the store (appValue). */
  value: Float64Array;
  /** NDCG@K with each candidate's gain its true expected installs at the top slot. */
  ndcg: Float64Array;
  /** Sampled mode: the installs drawn from the coins, else null. */
  sampled: Float64Array | null;
}

/**
 * Plays an arm over the sessions: `order(s, i)` gives the K shown candidates of session i, best first.
 * `sampleSeed`: also draw each shown slot's click and install (seeded per arm and session).
 */
export function playArm(sim: AppStoreSimulator, sessions: readonly AbSession[], order: (s: AbSession, i: number) => Int32Array, top: number, sampleSeed?: number): ArmOutcome {
  const n = sessions.length;
  const out: ArmOutcome = { installs: new Float64Array(n), clicks: new Float64Array(n), value: new Float64Array(n), ndcg: new Float64Array(n), sampled: sampleSeed === undefined ? null : new Float64Array(n) };
  const rng = sampleSeed === undefined ? null : new Rng(sampleSeed);
  sessions.forEach((s, i) => {
    const shown = order(s, i);
    if (shown.length !== top) throw new Error(`abtest: an arm showed ${shown.length} apps in session ${i}, expected ${top}`);
    // each candidate's gain: its true expected installs at the top slot
    const gain = Array.from(s.candidates, (a) => {
      const g = sim.truth(s.user, a, 0, s);
      return g.pCtr * g.pCvr;
    });
    let inst = 0;
    let clk = 0;
    let val = 0;
    let drawn = 0;
    let dcg = 0;
    shown.forEach((c, k) => {
      const a = s.candidates[c]!;
      const t = sim.truth(s.user, a, k, s);
      inst += t.pCtr * t.pCvr;
      clk += t.pCtr;
      val += t.pCtr * t.pCvr * sim.appValue(a);
      dcg += gain[c]! / Math.log2(k + 2);
      if (rng && rng.bernoulli(t.pCtr) && rng.bernoulli(t.pCvr)) drawn++;
    });
    const best = gain.slice().sort((x, y) => y - x);
    let idcg = 0;
    for (let k = 0; k < top; k++) idcg += best[k]! / Math.log2(k + 2);
    out.installs[i] = inst;
    out.clicks[i] = clk;
    out.value[i] = val;
    out.ndcg[i] = idcg > 0 ? dcg / idcg : 0;
    if (out.sampled) out.sampled[i] = drawn;
  });
  return out;
}

/** The simulator's popularity ranking: lower app ids are more popular. */
export function popularOrder(s: AbSession, top: number): Int32Array {
  return topByScore(Array.from(s.candidates, (a) => -a), top);
}

/** A seeded random order of each session (the same for a seed). */
export function randomOrderer(seed: number): (s: AbSession) => Int32Array {
  const rng = new Rng(seed);
  return (s) => {
    const idx = Array.from({ length: s.candidates.length }, (_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return Int32Array.from(idx);
  };
}

/** Sessions' candidates as one batch (each scored at position 0), in session order, `sessions.length x C` rows. */
export function sessionBatch(sim: AppStoreSimulator, sessions: readonly AbSession[]): Batch {
  const parts = sessions.map((s) => sim.candidates(s.user, Array.from(s.candidates), { hour: s.hour, page: s.page, position: 0 }).batch);
  const size = parts.reduce((n, b) => n + b.size, 0);
  const Fs = parts[0] ? parts[0].ids.length / Math.max(parts[0].size, 1) : 0;
  const ids = new Int32Array(size * Fs);
  const Nd = parts[0]?.dense ? parts[0].dense.length / Math.max(parts[0].size, 1) : 0;
  const dense = new Float32Array(size * Nd);
  const nBags = parts[0]?.bags.length ?? 0;
  const bags = Array.from({ length: nBags }, (_, k) => {
    const total = parts.reduce((n, b) => n + b.bags[k]!.ids.length, 0);
    return { offsets: new Int32Array(size + 1), ids: new Int32Array(total), weights: new Float32Array(total) };
  });
  let row = 0;
  const at = new Array<number>(nBags).fill(0);
  for (const b of parts) {
    ids.set(b.ids, row * Fs);
    if (b.dense) dense.set(b.dense, row * Nd);
    b.bags.forEach((g, k) => {
      const dst = bags[k]!;
      dst.ids.set(g.ids, at[k]!);
      dst.weights.set(g.weights ?? new Float32Array(g.ids.length).fill(1), at[k]!);
      for (let r = 1; r <= b.size; r++) dst.offsets[row + r] = at[k]! + g.offsets[r]!;
      at[k]! += g.ids.length;
    });
    row += b.size;
  }
  return { size, ids, bags, dense: Nd ? dense : null };
}

/** One arm's row of the A/B table (see `summariseArms`). */
export interface ArmSummary {
  name: string;
  installsPerUser: number;
  clicksPerUser: number;
  installsPer1000Impressions: number;
  valuePerUser: number;
  ndcg: number;
  /** Share of the oracle's expected installs. */
  oracleShare: number;
  /** Lift of installs per user over the first arm, in percent, with its paired 95% interval (null for the first). */
  lift: { pct: number; lo: number; hi: number } | null;
  /** Sampled mode: installs drawn per user, and their lift over the first arm's draws. */
  sampled?: { installsPerUser: number; lift: { pct: number; lo: number; hi: number } | null };
}

/** The table of a test: every arm's figures, its lift over the first arm, its share of the oracle. */
export function summariseArms(arms: ReadonlyArray<{ name: string; outcome: ArmOutcome }>, oracle: ArmOutcome, top: number): ArmSummary[] {
  const first = arms[0]!;
  const liftOf = (a: Float64Array, b: Float64Array): { pct: number; lo: number; hi: number } => {
    const d = pairedDifference(Array.from(a), Array.from(b));
    const base = meanOf(Array.from(a));
    return { pct: (100 * d.mean) / base, lo: (100 * d.lo) / base, hi: (100 * d.hi) / base };
  };
  const oracleMean = meanOf(Array.from(oracle.installs));
  return arms.map((arm, i) => {
    const o = arm.outcome;
    const inst = meanOf(Array.from(o.installs));
    const row: ArmSummary = {
      name: arm.name,
      installsPerUser: inst,
      clicksPerUser: meanOf(Array.from(o.clicks)),
      installsPer1000Impressions: (1000 * inst) / top,
      valuePerUser: meanOf(Array.from(o.value)),
      ndcg: meanOf(Array.from(o.ndcg)),
      oracleShare: inst / oracleMean,
      lift: i === 0 ? null : liftOf(first.outcome.installs, o.installs),
    };
    if (o.sampled && first.outcome.sampled) row.sampled = { installsPerUser: meanOf(Array.from(o.sampled)), lift: i === 0 ? null : liftOf(first.outcome.sampled, o.sampled) };
    return row;
  });
}

/**
 * Scores every session's candidates with `score`, called on chunks of sessions (its arrays hold the
 * chunk's candidates in session order); returns each session's own slice.
 */
export function scoreSessions(sessions: readonly AbSession[], score: (chunk: readonly AbSession[]) => CandidateScores, chunk = 200): CandidateScores[] {
  const out: CandidateScores[] = [];
  for (let start = 0; start < sessions.length; start += chunk) {
    const part = sessions.slice(start, start + chunk);
    const sc = score(part);
    let at = 0;
    for (const s of part) {
      const n = s.candidates.length;
      const cut = (a: ArrayLike<number>): Float64Array => Float64Array.from({ length: n }, (_, i) => a[at + i]!);
      out.push({ pCtr: cut(sc.pCtr), pCvr: cut(sc.pCvr), pCtcvr: cut(sc.pCtcvr) });
      at += n;
    }
  }
  return out;
}

/** A model arm: each session's top K by the model's scores, ranked by `by`. */
export function playModel(sim: AppStoreSimulator, sessions: readonly AbSession[], scores: readonly CandidateScores[], by: AbRankBy, top: number, sampleSeed?: number): ArmOutcome {
  return playArm(sim, sessions, (s, i) => topByScore(rankingScore(sim, s, scores[i]!, by), top), top, sampleSeed);
}
