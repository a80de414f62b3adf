/** Text output for the command line: metric tables and a progress line. */
import type { EsmmMetrics } from "../index.js";

const f4 = (v: number | null | undefined): string => (v === null || v === undefined || Number.isNaN(v) ? "n/a" : v.toFixed(4));

/** A comparison's figure: 4 decimals, "-" where there is none (NaN). */
export const fixed4 = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : "-");
/** A difference: signed, 4 decimals, "-" where there is none. */
export const signed4 = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${v.toFixed(4)}` : "-");
/** A lift in percent: signed, 2 decimals. */
export const signedPct = (v: number): string => `${v >= 0 ? "+" : ""}${v.toFixed(2)}%`;

/** Rows of metric name -> one column per model. `undefined`/null print as n/a (e.g. an AUC over one class). */
export function metricRows(m: EsmmMetrics): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ["CTR AUC (all impressions)", f4(m.ctrAuc)],
    ["CVR AUC (clicked impressions)", f4(m.cvrAuc)],
    ["CTCVR AUC (all impressions)", f4(m.ctcvrAuc)],
  ];
  if (m.truth) {
    rows.push(["CVR AUC, entire space (vs true pCVR)", f4(m.truth.cvrAucEntireSpace)]);
    rows.push(["CVR AUC, clicked (vs true pCVR)", f4(m.truth.cvrAucClicked)]);
  }
  if (m.gauc) {
    rows.push(["GAUC, CTR", f4(m.gauc.ctr)]);
    rows.push(["GAUC, CTCVR", f4(m.gauc.ctcvr)]);
  }
  rows.push(
    ["log loss CTR", f4(m.ctrLogLoss)],
    ["log loss CVR (clicked)", f4(m.cvrLogLoss)],
    ["log loss CTCVR", f4(m.ctcvrLogLoss)],
    ["mean pCTR / CTR", `${f4(m.calibration.ctr.predicted)} / ${f4(m.calibration.ctr.observed)}`],
    ["mean pCVR / CVR (clicked)", `${f4(m.calibration.cvr.predicted)} / ${f4(m.calibration.cvr.observed)}`],
    ["mean pCTCVR / CTCVR", `${f4(m.calibration.ctcvr.predicted)} / ${f4(m.calibration.ctcvr.observed)}`],
  );
  return rows;
}

/** A side-by-side table: one column per named model. */
export function metricsTable(models: Array<{ name: string; metrics: EsmmMetrics }>): string {
  const cols = models.map((m) => ({ name: m.name, rows: metricRows(m.metrics) }));
  const labels = cols[0]!.rows.map(([k]) => k);
  const w0 = Math.max(6, ...labels.map((l) => l.length));
  const ws = cols.map((c) => Math.max(c.name.length, ...c.rows.map(([, v]) => v.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(w0) : c.padStart(ws[i - 1]!))).join("  ");
  const out = [line(["metric", ...cols.map((c) => c.name)]), "-".repeat(w0 + ws.reduce((a, b) => a + b + 2, 0))];
  labels.forEach((l, r) => out.push(line([l, ...cols.map((c) => c.rows[r]![1])])));
  const m0 = models[0]!.metrics;
  out.push(`(${m0.rows} impressions, ${m0.clicks} clicks, ${m0.conversions} conversions)`);
  return out.join("\n");
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

/** One progress line: a bar when the total is known, rows/s, per-task loss, ETA. */
export function progressLine(p: { epoch: number; epochs: number; rows: number; epochRows: number | null; samplesPerSec: number; ctrLoss: number; cvrLoss: number; secondLabel?: string }): string {
  const rate = `${Math.round(p.samplesPerSec).toLocaleString("en-US")} rows/s`;
  // a diverging run's loss (1e35 is finite) in three figures, not toFixed's 17 digits and exponent
  const lossText = (v: number): string => (Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(2));
  const loss = `loss ctr ${lossText(p.ctrLoss)} ${p.secondLabel ?? "ctcvr"} ${lossText(p.cvrLoss)}`;
  if (p.epochRows) {
    const frac = Math.min(1, p.rows / p.epochRows);
    const width = 24;
    const filled = Math.round(frac * width);
    const eta = (p.epochRows - p.rows) / Math.max(p.samplesPerSec, 1e-9);
    return `epoch ${p.epoch + 1}/${p.epochs} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${rate} ${loss} ETA ${fmtDuration(eta)}`;
  }
  return `epoch ${p.epoch + 1}/${p.epochs} ${p.rows.toLocaleString("en-US")} rows ${rate} ${loss}`;
}
