import { describe, expect, it } from "vitest";
import { lineChart, niceTicks, renderReport, smooth } from "../src/cli/report.js";
import { observations } from "../src/cli/demo.js";
import type { DemoResult } from "../src/cli/demo-run.js";
import { esmmMetrics } from "../src/index.js";
import { progressLine } from "../src/cli/format.js";

function result(variant: DemoResult["variant"], pCvr: number[]): DemoResult {
  const click = [1, 1, 0, 0];
  const conversion = [1, 0, 0, 0];
  const truePcvr = [0.9, 0.1, 0.5, 0.2];
  const pCtr = [0.4, 0.3, 0.2, 0.1];
  const test = esmmMetrics({ pCtr, pCvr, pCtcvr: pCtr.map((v, i) => v * pCvr[i]!), click, conversion, truePctr: pCtr, truePcvr });
  return { variant, objective: variant === "base" ? "clicked" : "entire-space", seed: 1, bestEpoch: 0, parameters: 10, curve: [{ step: 10, loss: 1, ctr: 0.6, cvr: 0.4 }, { step: 20, loss: 0.8, ctr: 0.5, cvr: 0.3 }], epochs: [{ epoch: 0, seconds: 1, samplesPerSec: 100, valid: test }], test, gates: variant === "esmm-mmoe" ? { ctr: [0.75, 0.25], cvr: [0.5, 0.5] } : null, seconds: 1 };
}

describe("the demo report", () => {
  it("draws charts as inline SVG: two axes, integer epoch ticks, round value ticks, a legend beside the plot", () => {
    const svg = lineChart("t", [{ name: "a", points: [[1, 0.5], [2, 0.6]] }, { name: "b", points: [[1, 0.55], [2, 0.71]] }], "epoch", "AUC");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/class="axis"/g)!.length).toBe(2);
    const xTicks = /<g class="x-ticks">(.*?)<\/g>/.exec(svg)![1]!.match(/>([^<]+)</g)!.map((m) => m.slice(1, -1));
    expect(xTicks).toEqual(["1", "2"]);
    const yTicks = /<g class="y-ticks">(.*?)<\/g>/.exec(svg)![1]!.match(/>([^<]+)</g)!.map((m) => m.slice(1, -1));
    // data 0.5..0.71, about 4 intervals: a step of 0.1 (1, 2 or 5 x 10^k, the first at least 0.21 / 4), widened to 0.8
    expect(yTicks).toEqual(["0.5", "0.6", "0.7", "0.8"]);
    const legend = [...svg.matchAll(/<g class="legend-entry"><rect x="(\d+)"[^>]*\/><text[^>]*>([^<]+)<\/text><\/g>/g)];
    expect(legend.map((m) => m[2])).toEqual(["a", "b"]);
    for (const m of legend) expect(Number(m[1])).toBeGreaterThan(530 - 150); // right of the plot area, never over a line
  });

  it("round ticks and the smoothing the report says it uses", () => {
    expect(niceTicks(0.081, 0.372, 4)).toEqual({ ticks: [0.1, 0.2, 0.3], decimals: 1 });
    expect(niceTicks(0, 1000, 5).ticks).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(0.6831, 0.6912, 4)).toEqual({ ticks: [0.685, 0.69], decimals: 3 }); // 0.0081 / 4 > 0.002: step 0.005
    expect(smooth([[1, 1], [2, 0], [3, 0]])).toEqual([[1, 1], [2, 0.9], [3, 0.81]]);
    // raw curves are drawn faint and left out of the legend
    const svg = lineChart("t", [{ name: "a (raw)", points: [[1, 1], [2, 0]], faint: true, color: 0 }, { name: "a", points: smooth([[1, 1], [2, 0]]), color: 0 }], "step", "loss");
    expect(svg).toContain('stroke-opacity="0.25"');
    expect([...svg.matchAll(/class="legend-entry"/g)].length).toBe(1);
  });

  it("states the measured ranking, whichever model it favours", () => {
    // base orders pCVR exactly as the true pCVR (soft-label AUC 0.8453, its ceiling here), esmm reverses it
    const res = [result("esmm-mmoe", [0.5, 0.4, 0.6, 0.3]), result("esmm", [0.1, 0.9, 0.2, 0.8]), result("base", [0.9, 0.1, 0.5, 0.2])];
    const notes = observations(res);
    expect(notes[0]).toMatch(/^Entire-space CVR AUC .*: base 0\.8453 > esmm-mmoe 0\.7174 > esmm 0\.1547\.$/);
    expect(notes.some((n) => n.startsWith("esmm vs base: CVR AUC on clicked rows -1.0000"))).toBe(true);
    expect(notes.at(-1)).toBe("esmm-mmoe gates: the CTR task weighs the experts 75% / 25%, the CVR task 50% / 50%.");
    const html = renderReport(res, { seed: 1 }, notes);
    expect(html).toContain("<h2>Gate usage");
    expect(html).toContain("exponential moving average (weight 0.9 on the past");
    expect(html.match(/<text[^>]*>expert [01]<\/text>/g)!.length).toBe(2); // the gate chart's legend
    expect(html).not.toMatch(/<script/);
  });
});


describe("the training progress line", () => {
  it("shows a bar, rows/s, the loss per task and the ETA", () => {
    const line = progressLine({ epoch: 0, epochs: 2, rows: 25_000, epochRows: 100_000, samplesPerSec: 2500, ctrLoss: 0.19, cvrLoss: 0.034 });
    expect(line).toBe("epoch 1/2 [######..................]  25% 2,500 rows/s loss ctr 0.1900 ctcvr 0.0340 ETA 30s");
    expect(progressLine({ epoch: 1, epochs: 2, rows: 5000, epochRows: null, samplesPerSec: 1000, ctrLoss: 0.2, cvrLoss: 0.05, secondLabel: "cvr(clicked)" })).toBe(
      "epoch 2/2 5,000 rows 1,000 rows/s loss ctr 0.2000 cvr(clicked) 0.0500",
    );
    // a diverging run (lr 1e6 gave a CTR loss of 2.3793282821819397e+35, still finite)
    expect(progressLine({ epoch: 0, epochs: 1, rows: 10, epochRows: null, samplesPerSec: 1, ctrLoss: 2.3793282821819397e35, cvrLoss: 12_345.6 })).toBe(
      "epoch 1/1 10 rows 1 rows/s loss ctr 2.38e+35 ctcvr 1.23e+4",
    );
  });
});
