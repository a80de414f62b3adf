// The page: drives the worker, draws the loss curve (inline SVG) and the tables. Query parameters:
// ?steps=N&seed=S&trainRows=N&batch=N&auto=1 (train at once), &checkpoint=/path/ (score a saved model).
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const num = (k) => (params.has(k) ? Number(params.get(k)) : undefined);
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const losses = [];
window.__esmm = { done: false };

/**
 * The loss curve, drawn while training: the raw losses faint, an exponential moving average
 * (weight 0.9 on the past) over them; the y-range runs from the lowest loss to the highest after the
 * first tenth of the steps, so the first steps (far above the rest) do not flatten the curve; values
 * above the range are drawn at its top.
 */
function drawCurve() {
  const svg = $("curve");
  const W = 460, H = 220, P = 40;
  if (losses.length < 2) return;
  const tail = losses.slice(Math.floor(losses.length / 10));
  const lo = Math.min(...losses), hi = Math.max(...tail);
  const steps = Math.max(losses.length, Number($("steps").value) || losses.length);
  const X = (i) => P + (i / (steps - 1)) * (W - P - 8);
  const Y = (v) => H - 24 - ((Math.min(v, hi) - lo) / (hi - lo || 1)) * (H - 40);
  const path = (vals) => vals.map((v, i) => `${i ? "L" : "M"}${X(i).toFixed(1)},${Y(v).toFixed(1)}`).join("");
  const ema = [];
  losses.forEach((v, i) => ema.push(i ? 0.9 * ema[i - 1] + 0.1 * v : v));
  svg.innerHTML = `<line x1="${P}" y1="${H - 24}" x2="${W - 8}" y2="${H - 24}" stroke="#333"/><line x1="${P}" y1="16" x2="${P}" y2="${H - 24}" stroke="#333"/>` +
    `<text x="${P - 4}" y="${Y(hi) + 4}" font-size="10" text-anchor="end">${hi.toFixed(3)}</text><text x="${P - 4}" y="${Y(lo) + 4}" font-size="10" text-anchor="end">${lo.toFixed(3)}</text>` +
    `<text x="${W - 8}" y="${H - 6}" font-size="10" text-anchor="end">step ${losses.length} of ${steps}</text>` +
    `<path d="${path(losses)}" fill="none" stroke="#1f77b4" stroke-opacity="0.3" stroke-width="1"/><path d="${path(ema)}" fill="none" stroke="#1f77b4" stroke-width="1.8"/>` +
    `<g font-size="10"><line x1="${W - 150}" y1="22" x2="${W - 135}" y2="22" stroke="#1f77b4" stroke-opacity="0.3"/><text x="${W - 131}" y="25">loss per step</text>` +
    `<line x1="${W - 150}" y1="36" x2="${W - 135}" y2="36" stroke="#1f77b4" stroke-width="1.8"/><text x="${W - 131}" y="39">moving average (0.9)</text></g>`;
}

function fmt(v) { return v === null || v === undefined ? "n/a" : v.toFixed(4); }

let backendInfo = null;
let autoStart = false;
/** Training threads: ?threads=N, else every core (at most 4) where the page is cross-origin isolated. */
function threads() {
  if (num("threads") !== undefined) return Math.max(1, Math.floor(num("threads")));
  return self.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 4) : 1;
}

function options() {
  const o = { steps: Number($("steps").value), seed: Number($("seed").value) };
  for (const k of ["trainRows", "validRows", "batch", "users", "apps", "simSeed"]) if (num(k) !== undefined) o[k] = num(k);
  return o;
}

worker.onmessage = (e) => {
  const m = e.data;
  if (m.type === "backend") {
    // Several threads train where the page may share memory (cross-origin isolated), else one.
    backendInfo = m;
    $("backend").textContent = `backend: ${m.backend}${m.backend === "wasm" ? " (WebAssembly SIMD)" : ""}; cross-origin isolated: ${m.isolated ? "yes" : "no"}; training threads: ${m.threadsAvailable ? threads() : 1}`;
    window.__esmm.backend = m.backend;
    if (autoStart) {
      autoStart = false;
      $("start").click();
    }
  } else if (m.type === "progress") {
    if (m.step <= 5) losses.length = 0; // a new run
    losses.push(...(m.losses || []));
    drawCurve();
    $("status").textContent = `step ${m.step}: loss ${m.loss.toFixed(4)} (ctr ${m.ctr.toFixed(4)}, ctcvr ${m.cvr.toFixed(4)})`;
  } else if (m.type === "trained") {
    losses.length = 0;
    losses.push(...m.losses);
    drawCurve();
    const x = m.metrics;
    $("metrics").innerHTML = `<tr><th>metric</th><th>value</th></tr><tr><td>CTR AUC</td><td>${fmt(x.ctrAuc)}</td></tr><tr><td>CVR AUC (clicked)</td><td>${fmt(x.cvrAuc)}</td></tr>` +
      `<tr><td>CTCVR AUC</td><td>${fmt(x.ctcvrAuc)}</td></tr><tr><td>CVR AUC, entire space (vs truth)</td><td>${fmt(x.cvrAucEntireSpace)}</td></tr>`;
    $("status").textContent = `trained on ${m.threads} thread(s): ${m.losses.length} steps, loss ${m.losses[0].toFixed(4)} -> ${m.losses.at(-1).toFixed(4)}`;
    window.__esmm.threads = m.threads;
    window.__esmm.losses = m.losses;
    window.__esmm.metrics = m.metrics;
    $("rank").disabled = false;
    worker.postMessage({ type: "rank", user: Number($("user").value), count: 20 });
  } else if (m.type === "scored") {
    window.__esmm.scored = m.rows;
    if (window.__esmm.ranking) window.__esmm.done = true;
  } else if (m.type === "loaded") {
    $("status").textContent = `loaded a ${m.name} checkpoint (${m.parameters} parameters${m.records ? ", scoring records through its vocabularies" : ", trained on raw simulator ids"})`;
    $("rank").disabled = false;
    worker.postMessage({ type: "rank", user: Number($("user").value), count: 20 });
  } else if (m.type === "ranking") {
    const E = m.rows[0] ? m.rows[0].gatesCtr.length : 0;
    const bar = (w) => w.map((v, i) => `<span class="bar" style="width:${(v * 60).toFixed(0)}px;background:${i ? "#d62728" : "#1f77b4"}" title="expert ${i}: ${(v * 100).toFixed(1)}%"></span>`).join("");
    $("gate-legend").innerHTML = E ? `gate bars: each task's weight on <span class="bar" style="width:12px;background:#1f77b4"></span> expert 0 and <span class="bar" style="width:12px;background:#d62728"></span> expert 1` : "";
    $("ranking").innerHTML = `<tr><th>rank</th><th>app</th><th>pCTR</th><th>pCVR</th><th>pCTCVR</th><th>true pCTR x pCVR</th>${E ? "<th>CTR gate</th><th>CVR gate</th>" : ""}</tr>` +
      m.rows.map((r, i) => `<tr><td>${i + 1}</td><td>app ${r.app}</td><td>${r.pCtr.toFixed(4)}</td><td>${r.pCvr.toFixed(4)}</td><td>${r.pCtcvr.toFixed(5)}</td><td>${(r.truePctr * r.truePcvr).toFixed(5)}</td>` +
        (E ? `<td>${bar(r.gatesCtr)}</td><td>${bar(r.gatesCvr)}</td>` : "") + "</tr>").join("");
    window.__esmm.ranking = m.rows;
    window.__esmm.user = m.user;
    // with ?data= the page is done once those rows are scored too
    window.__esmm.done = !params.has("data") || window.__esmm.scored !== undefined;
  } else if (m.type === "error") {
    $("status").textContent = `error: ${m.message}`;
    window.__esmm.error = m.message;
    console.error(m.message);
  }
};

$("start").onclick = () => {
  window.__esmm = { done: false, backend: backendInfo ? backendInfo.backend : undefined };
  $("rank").disabled = true;
  $("status").textContent = "training...";
  worker.postMessage({ type: "train", opts: options(), threads: backendInfo && backendInfo.threadsAvailable ? threads() : 1 });
};
$("rank").onclick = () => {
  window.__esmm.done = false;
  worker.postMessage({ type: "rank", user: Number($("user").value), count: 20 });
};
if (params.has("steps")) $("steps").value = params.get("steps");
if (params.has("seed")) $("seed").value = params.get("seed");
if (params.has("user")) $("user").value = params.get("user");
if (params.has("checkpoint")) worker.postMessage({ type: "load", url: params.get("checkpoint"), data: params.get("data"), opts: options() });
else if (params.get("auto") === "1") autoStart = true; // once the worker has said how many threads it can use
