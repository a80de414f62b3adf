/**
 * The demo's self-contained HTML report: the metric table, training curves and gate usage, with every
 * plot drawn as inline SVG (no script, no external file, opens anywhere).
 */
import type { DemoResult } from "./demo-run.js";
import { metricRows } from "./format.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

interface Series {
  name: string;
  points: Array<[number, number]>;
}

/** A line chart with axes, ticks and a legend. */
export function lineChart(title: string, series: Series[], xLabel: string, yLabel: string, w = 520, h = 300): string {
  const pad = { l: 60, r: 16, t: 30, b: 44 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<p>${esc(title)}: no data</p>`;
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const X = (x: number): number => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const Y = (y: number): number => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const ticks = (a: number, b: number, n: number): number[] => Array.from({ length: n + 1 }, (_, i) => a + ((b - a) * i) / n);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<text x="${w / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  for (const t of ticks(y0, y1, 4)) {
    parts.push(`<line x1="${pad.l}" x2="${w - pad.r}" y1="${Y(t)}" y2="${Y(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${pad.l - 6}" y="${Y(t) + 4}" text-anchor="end" font-size="11">${t.toPrecision(3)}</text>`);
  }
  // Few integer x values (epochs): one tick each; otherwise five evenly spaced ticks.
  const integerX = x1 - x0 <= 10 && all.every((p) => Number.isInteger(p[0]));
  const xTicks = integerX ? Array.from({ length: x1 - x0 + 1 }, (_, i) => x0 + i) : ticks(x0, x1, 4);
  for (const t of xTicks) parts.push(`<text x="${X(t)}" y="${h - pad.b + 16}" text-anchor="middle" font-size="11">${Math.round(t)}</text>`);
  parts.push(`<line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${h - pad.b}" stroke="#333"/><line x1="${pad.l}" x2="${w - pad.r}" y1="${h - pad.b}" y2="${h - pad.b}" stroke="#333"/>`);
  parts.push(`<text x="${(pad.l + w - pad.r) / 2}" y="${h - 6}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`);
  parts.push(`<text x="14" y="${(pad.t + h - pad.b) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(pad.t + h - pad.b) / 2})">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const d = s.points.map(([x, y], k) => `${k ? "L" : "M"}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    if (s.points.length <= 12) for (const [x, y] of s.points) parts.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${c}"/>`);
    parts.push(`<rect x="${w - pad.r - 120}" y="${pad.t + i * 16}" width="10" height="10" fill="${c}"/><text x="${w - pad.r - 105}" y="${pad.t + 9 + i * 16}" font-size="11">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

/** Horizontal stacked bars: for each (model, task), the share of each expert. */
function gateBars(results: DemoResult[]): string {
  const rows = results.flatMap((r) => (r.gates ? (["ctr", "cvr"] as const).map((t) => ({ label: `${r.variant} ${t.toUpperCase()} gate`, w: r.gates![t] })) : []));
  if (rows.length === 0) return "<p>No model with gates.</p>";
  const W = 520;
  const H = 30 + rows.length * 28;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="gate usage">`];
  rows.forEach((r, i) => {
    let x = 170;
    const y = 10 + i * 28;
    parts.push(`<text x="0" y="${y + 14}" font-size="12">${esc(r.label)}</text>`);
    r.w.forEach((v, e) => {
      const width = v * 330;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="20" fill="${COLORS[e % COLORS.length]}"/>`);
      if (width > 40) parts.push(`<text x="${(x + width / 2).toFixed(1)}" y="${y + 14}" text-anchor="middle" font-size="11" fill="#fff">e${e} ${(v * 100).toFixed(0)}%</text>`);
      x += width;
    });
  });
  parts.push("</svg>");
  return parts.join("");
}

export function renderReport(results: DemoResult[], meta: Record<string, string | number>, notes: string[]): string {
  const table = (() => {
    const cols = results.map((r) => metricRows(r.test));
    const head = `<tr><th>metric (test set)</th>${results.map((r) => `<th>${esc(r.variant)}</th>`).join("")}</tr>`;
    const body = cols[0]!.map(([k], i) => `<tr><td>${esc(k)}</td>${cols.map((c) => `<td>${esc(c[i]![1])}</td>`).join("")}</tr>`).join("");
    return `<table>${head}${body}</table>`;
  })();
  // The CTR term is the same loss in every variant; the second term is not (base's is a clicked-only CVR loss).
  const lossChart = lineChart("Training CTR loss (per batch)", results.map((r) => ({ name: r.variant, points: r.curve.map((p) => [p.step, p.ctr]) })), "step", "BCE(pCTR, click)");
  const secondChart = lineChart("Training CTCVR loss (esmm variants, per batch)", results.filter((r) => r.variant !== "base").map((r) => ({ name: r.variant, points: r.curve.map((p) => [p.step, p.cvr]) })), "step", "BCE(pCTCVR, click AND conversion)");
  const cvrChart = lineChart("Validation CVR AUC, entire space (vs true pCVR)", results.map((r) => ({ name: r.variant, points: r.epochs.map((e) => [e.epoch + 1, e.valid.truth?.cvrAucEntireSpace ?? Number.NaN]) })), "epoch", "AUC");
  const ctcvrChart = lineChart("Validation CTCVR AUC", results.map((r) => ({ name: r.variant, points: r.epochs.map((e) => [e.epoch + 1, e.valid.ctcvrAuc ?? Number.NaN]) })), "epoch", "AUC");
  const metaRows = Object.entries(meta).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(String(v))}</td></tr>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>esmm-ts demo report</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>
<h1>esmm-ts: ESMM variants on simulated app-store impressions</h1>
<p>Each model was trained on the same simulated impressions and scored on a held-out test stream of the same
simulated world. The simulator knows every impression's true conversion probability, so the CVR model can be
judged on the <em>entire space</em> of impressions, which no real log can show.</p>
<h2>Test metrics</h2>${table}
${notes.length ? `<h2>Reading the results</h2><ul>${notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : ""}
<h2>Training</h2><div class="charts">${lossChart}${secondChart}${cvrChart}${ctcvrChart}</div>
<h2>Gate usage (mean gate weight on each expert, test set)</h2>${gateBars(results)}
<h2>Run</h2><table>${metaRows}</table>
</body></html>
`;
}
