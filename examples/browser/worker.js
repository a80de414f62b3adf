// The demo's Web Worker: trains and scores off the page's thread, so the page stays responsive.
import { DEFAULTS, csvRecords, loadCheckpoint, makeSimulator, rankForUser, trainSteps, trainThreaded } from "./demo-core.js";
import { backendName } from "../../dist/index.js";
import { canUseThreads } from "../../dist/web/index.js"; // also registers Web Workers for train({ threads })

// Which kernels run here, and whether the page may share memory between threads (COOP/COEP).
self.postMessage({ type: "backend", backend: backendName(), isolated: self.crossOriginIsolated === true, threadsAvailable: canUseThreads() });

let model = null;
let sim = null;
let vocab = null; // the vocabularies a model trained here was fitted with
let scorer = null; // a CLI-trained checkpoint's own preprocessing, when it has one

self.onmessage = async (e) => {
  const msg = e.data;
  try {
    if (msg.type === "train" && (msg.threads ?? 1) > 1 && canUseThreads()) {
      const fresh = [];
      const r = await trainThreaded(msg.opts, msg.threads, (p) => {
        fresh.push(p.loss);
        if (p.step % 5 === 0) self.postMessage({ type: "progress", ...p, losses: fresh.splice(0) });
      });
      ({ model, sim, vocab } = r);
      self.postMessage({ type: "trained", losses: r.losses, metrics: r.metrics, threads: msg.threads });
    } else if (msg.type === "train") {
      const it = trainSteps(msg.opts);
      const losses = [];
      for (;;) {
        const r = it.next();
        if (r.done) {
          ({ model, sim, vocab } = r.value);
          self.postMessage({ type: "trained", losses, metrics: r.value.metrics, threads: 1 });
          break;
        }
        losses.push(r.value.loss);
        // the losses since the last report travel with it, so the page draws the curve as it grows
        if (r.value.step % 5 === 0) self.postMessage({ type: "progress", ...r.value, losses: losses.slice(r.value.step - 5) });
      }
    } else if (msg.type === "load") {
      ({ model, scorer } = await loadCheckpoint(new URL(msg.url, self.location.href).href));
      sim = makeSimulator({ ...DEFAULTS, ...(msg.opts || {}) });
      vocab = null;
      self.postMessage({ type: "loaded", variant: model.name, parameters: model.parameterCount(), records: scorer !== null });
      if (msg.data) {
        // score the rows of a CSV file through the checkpoint's preprocessing, as esmm predict does
        const res = await fetch(new URL(msg.data, self.location.href).href);
        if (!res.ok) throw new Error(`cannot fetch ${msg.data} (${res.status})`);
        if (!scorer) throw new Error("this checkpoint has no preprocessing: it cannot score raw rows");
        // a gzip file (told by its first two bytes, as the CLI tells it) through the browser's own DecompressionStream
        const bytes = new Uint8Array(await res.arrayBuffer());
        const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
        const text = gz ? await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text() : new TextDecoder().decode(bytes);
        self.postMessage({ type: "scored", rows: scorer.scoreSync(csvRecords(text)) });
      }
    } else if (msg.type === "rank") {
      self.postMessage({ type: "ranking", user: msg.user, rows: rankForUser(model, sim, msg.user, msg.count, scorer, vocab) });
    }
  } catch (err) {
    self.postMessage({ type: "error", message: String(err && err.stack ? err.stack : err) });
  }
};
