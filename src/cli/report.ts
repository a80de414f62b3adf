/**
 * The demo's self-contained HTML report: the metric table, training curves and gate usage, with every
 * plot drawn as inline SVG (no script, no external file, opens anywhere).
 */
import type { DemoResult } from "./demo-run.js";
import type { Comparison } from "./comparison.js";
import type { ArmSummary } from "../index.js";
import { comparisonMetrics, seedsText, stdText } from "./comparison.js";
import { fixed4, metricRows, signed4, signedPct } from "./format.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

interface Series {
  name: string;
  points: Array<[number, number]>;
  /** Draw faint, behind the others, and leave out of the legend (a raw curve behind its smoothed one). */
  faint?: boolean;
  /** Legend colour index (series drawn faint share their smoothed series' colour). */
  color?: number;
}

/**
 * Round axis ticks: a step of 1, 2 or 5 times a power of ten giving about `n` intervals over
 * [lo, hi], and the ticks that fall inside. The labels' decimals follow the step.
 */
export function niceTicks(lo: number, hi: number, n = 5): { ticks: number[]; decimals: number } {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(12)));
  return { ticks, decimals: Math.max(0, -Math.floor(Math.log10(step) + 1e-9)) };
}

/** An exponential moving average, weight `keep` on the past: what the training curves are smoothed with. */
export function smooth(points: Array<[number, number]>, keep = 0.9): Array<[number, number]> {
  let m = Number.NaN;
  return points.map(([x, y]) => {
    m = Number.isNaN(m) ? y : keep * m + (1 - keep) * y;
    return [x, m];
  });
}

/** A line chart with axes, round ticks, and a legend beside the plot (never over the lines). */
export function lineChart(title: string, series: Series[], xLabel: string, yLabel: string, w = 530, h = 300): string {
  const pad = { l: 60, r: 150, t: 30, b: 44 };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  if (all.length === 0) return `<p>${esc(title)}: no data</p>`;
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  // the y-range widened out to whole ticks, so the lowest and highest lines sit on labelled values
  const first = niceTicks(y0, y1, 4);
  const step = first.ticks.length > 1 ? first.ticks[1]! - first.ticks[0]! : y1 - y0;
  y0 = Math.floor(y0 / step + 1e-9) * step;
  y1 = Math.ceil(y1 / step - 1e-9) * step;
  const yTicks = niceTicks(y0, y1, Math.round((y1 - y0) / step));
  const X = (x: number): number => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const Y = (y: number): number => h - pad.b - ((y - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<text x="${(pad.l + w - pad.r) / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  parts.push(`<g class="y-ticks">`);
  for (const t of yTicks.ticks) {
    parts.push(`<line x1="${pad.l}" x2="${w - pad.r}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${pad.l - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${t.toFixed(yTicks.decimals)}</text>`);
  }
  parts.push(`</g><g class="x-ticks">`);
  // Few integer x values (epochs): one tick each; otherwise round ticks.
  const integerX = x1 - x0 <= 10 && all.every((p) => Number.isInteger(p[0]));
  const xt = integerX ? { ticks: Array.from({ length: x1 - x0 + 1 }, (_, i) => x0 + i), decimals: 0 } : niceTicks(x0, x1, 5);
  for (const t of xt.ticks) parts.push(`<text x="${X(t).toFixed(1)}" y="${h - pad.b + 16}" text-anchor="middle" font-size="11">${t.toFixed(xt.decimals)}</text>`);
  parts.push(`</g>`);
  parts.push(`<line class="axis" x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${h - pad.b}" stroke="#333"/><line class="axis" x1="${pad.l}" x2="${w - pad.r}" y1="${h - pad.b}" y2="${h - pad.b}" stroke="#333"/>`);
  parts.push(`<text x="${(pad.l + w - pad.r) / 2}" y="${h - 6}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`);
  parts.push(`<text x="14" y="${(pad.t + h - pad.b) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(pad.t + h - pad.b) / 2})">${esc(yLabel)}</text>`);
  const ordered = [...series.filter((s) => s.faint), ...series.filter((s) => !s.faint)];
  let legendRow = 0;
  for (const s of ordered) {
    const c = COLORS[(s.color ?? series.indexOf(s)) % COLORS.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    const d = pts.map(([x, y], k) => `${k ? "L" : "M"}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="${s.faint ? 1 : 1.8}"${s.faint ? ' stroke-opacity="0.25"' : ""}/>`);
    if (s.faint) continue;
    if (pts.length <= 12) for (const [x, y] of pts) parts.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${c}"/>`);
    const lx = w - pad.r + 12;
    const ly = pad.t + legendRow++ * 18;
    parts.push(`<g class="legend-entry"><rect x="${lx}" y="${ly}" width="12" height="12" fill="${c}"/><text x="${lx + 17}" y="${ly + 10}" font-size="11">${esc(s.name)}</text></g>`);
  }
  parts.push("</svg>");
  return parts.join("");
}

/** Horizontal stacked bars: for each (model, task), the share of each expert. */
function gateBars(results: DemoResult[]): string {
  const rows = results.flatMap((r) => (r.gates ? (["ctr", "cvr"] as const).map((t) => ({ label: `${r.variant} ${t.toUpperCase()} gate`, w: r.gates![t] })) : []));
  if (rows.length === 0) return "<p>No model with gates.</p>";
  const W = 520;
  const H = 44 + rows.length * 28;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="gate usage">`];
  const E = Math.max(...rows.map((r) => r.w.length));
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
  // the legend: which colour is which expert
  const ly = 14 + rows.length * 28;
  for (let e = 0; e < E; e++) parts.push(`<g class="legend-entry"><rect x="${170 + e * 90}" y="${ly}" width="12" height="12" fill="${COLORS[e % COLORS.length]}"/><text x="${187 + e * 90}" y="${ly + 10}" font-size="11">expert ${e}</text></g>`);
  parts.push("</svg>");
  return parts.join("");
}

function comparisonBlocks(c: Comparison, level = "h2"): string {
  return comparisonMetrics(c).map((metric) => {
    const head = `<tr><th>model</th><th>mean</th><th>std</th>${c.baselines.map((b) => `<th>vs ${esc(b)} (paired)</th><th>95% interval</th>`).join("")}${c.seeds.map((s) => `<th>seed ${s}</th>`).join("")}</tr>`;
    const body = c.models
      .map((m) => {
        const s = m.metrics[metric.key]!;
        const vs = c.baselines
          .map((b) => {
            const d = s.vs[b];
            const cls = d ? (d.lo > 0 ? (metric.higherIsBetter ? "up" : "down") : d.hi < 0 ? (metric.higherIsBetter ? "down" : "up") : "") : "";
            return `<td class="${cls}">${d ? signed4(d.mean) : "baseline"}</td><td class="${cls}">${d ? `[${signed4(d.lo)}, ${signed4(d.hi)}]` : ""}</td>`;
          })
          .join("");
        return `<tr><td>${esc(m.name)}</td><td>${fixed4(s.mean)}</td><td>${stdText(c, s.std)}</td>${vs}${s.values.map((v) => `<td>${fixed4(v)}</td>`).join("")}</tr>`;
      })
      .join("");
    return `<${level}>${esc(metric.label)} <small>(${metric.higherIsBetter ? "higher" : "lower"} is better)</small></${level}><table>${head}${body}</table>`;
  }).join("\n");
}

function abBlock(rows: readonly ArmSummary[]): string {
  const head = "<tr><th>arm</th><th>installs / user</th><th>clicks / user</th><th>installs / 1,000 impressions</th><th>NDCG</th><th>lift (95% interval)</th><th>share of oracle</th></tr>";
  const body = rows.map((r) => `<tr><td>${esc(r.name)}</td><td>${r.installsPerUser.toFixed(5)}</td><td>${r.clicksPerUser.toFixed(4)}</td><td>${r.installsPer1000Impressions.toFixed(3)}</td><td>${r.ndcg.toFixed(4)}</td><td>${r.lift ? `${signedPct(r.lift.pct)} [${signedPct(r.lift.lo)}, ${signedPct(r.lift.hi)}]` : "control"}</td><td>${(100 * r.oracleShare).toFixed(1)}%</td></tr>`).join("");
  return `<table>${head}${body}</table>`;
}

export function renderReport(results: DemoResult[], meta: Record<string, string | number>, notes: string[], comparison: Comparison | null = null, ab: readonly ArmSummary[] | null = null): string {
  const table = (() => {
    const cols = results.map((r) => metricRows(r.test));
    const head = `<tr><th>metric (test set)</th>${results.map((r) => `<th>${esc(r.variant)}</th>`).join("")}</tr>`;
    const body = cols[0]!.map(([k], i) => `<tr><td>${esc(k)}</td>${cols.map((c) => `<td>${esc(c[i]![1])}</td>`).join("")}</tr>`).join("");
    return `<table>${head}${body}</table>`;
  })();
  // The CTR term is the same loss in every variant; the second term is not (base's is a clicked-only CVR loss).
  // Each training curve: the per-batch losses faint, their moving average (weight 0.9 on the past) over them.
  const withSmooth = (rs: DemoResult[], pick: (p: DemoResult["curve"][number]) => number): Series[] =>
    rs.flatMap((r, i) => {
      const raw = r.curve.map((p): [number, number] => [p.step, pick(p)]);
      return [{ name: `${r.variant} (raw)`, points: raw, faint: true, color: i }, { name: r.variant, points: smooth(raw), color: i }];
    });
  const lossChart = lineChart("Training CTR loss (moving average; per batch faint)", withSmooth(results, (p) => p.ctr), "step", "BCE(pCTR, click)");
  const secondChart = lineChart("Training CTCVR loss (entire-space objectives)", withSmooth(results.filter((r) => r.objective !== "clicked"), (p) => p.cvr), "step", "BCE(pCTCVR, click AND conversion)");
  const cvrChart = lineChart("Validation CVR AUC, entire space (vs true pCVR)", results.map((r) => ({ name: r.variant, points: r.epochs.map((e) => [e.epoch + 1, e.valid.truth?.cvrAucEntireSpace ?? Number.NaN]) })), "epoch", "AUC");
  const ctcvrChart = lineChart("Validation CTCVR AUC", results.map((r) => ({ name: r.variant, points: r.epochs.map((e) => [e.epoch + 1, e.valid.ctcvrAuc ?? Number.NaN]) })), "epoch", "AUC");
  const metaRows = Object.entries(meta).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(String(v))}</td></tr>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>esmm-ts demo report</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1em}.up{background:#e6f4e6}.down{background:#f8e3e3}</style></head><body>
<h1>esmm-ts: ESMM variants on simulated app-store impressions</h1>
<p>Each model was trained on the same simulated impressions and scored on a held-out test stream of the same
simulated world. The simulator knows every impression's true conversion probability, so the CVR model can be
judged on the <em>entire space</em> of impressions, which no real log can show.</p>
<h2>Test metrics (model seed ${esc(String(meta["model seed"] ?? ""))})</h2>${table}
${comparison ? `<h2>Over ${seedsText(comparison.seeds.length).replace("seed", "model seed")}</h2><p>Each model trained once per seed; the paired difference takes each seed's value minus the baseline's at the same seed, with a 95% interval from Student's t.</p>${comparisonBlocks(comparison, "h3")}` : ""}
${ab ? `<h2>Simulated A/B test</h2><p>Every arm ranks the same user sessions' candidates (the first seed's models by pCTCVR); each arm's outcome is the expected installs from the simulator's truth; lifts are paired over sessions.</p>${abBlock(ab)}` : ""}
${notes.length ? `<h2>Reading the results</h2><ul>${notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : ""}
<h2>Training</h2><p>Training losses are smoothed with an exponential moving average (weight 0.9 on the past, 0.1 on each new batch); the raw per-batch values are drawn faint behind. Validation AUCs are measured after each epoch.</p><div class="charts">${lossChart}${secondChart}${cvrChart}${ctcvrChart}</div>
<h2>Gate usage (mean gate weight on each expert, test set)</h2>${gateBars(results)}
<h2>Run</h2><table>${metaRows}</table>
</body></html>
`;
}

/** `esmm compare --out`'s page: per metric, every model's mean +- std, its paired difference against the baseline, and each seed's value. */
export function compareReport(c: Comparison): string {
  const blocks = comparisonBlocks(c);
  const setup = Object.entries(c.setup).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(String(v))}</td></tr>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>esmm-ts comparison</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,th:first-child{text-align:left}
.up{background:#e6f4e6}.down{background:#f8e3e3}</style></head><body>
<h1>esmm-ts: models compared over ${seedsText(c.seeds.length)}</h1>
<p>Every model was trained once per seed on the same simulated impressions and scored on the same held-out test stream. The paired difference
takes each seed's value minus the baseline's at the same seed; its 95% interval uses Student's t over the seeds. Green: the interval lies on the better side of zero; red: on the worse side.</p>
${blocks}
<h2>Run</h2><table>${setup}</table>
</body></html>
`;
}
