/** The worker side of the two-core peak probe (src/cli/peak.ts): each message is a duration in ms; the reply is the rate measured over it. */
import { parentPort } from "node:worker_threads";
import { simdPeakGflops } from "./peak.js";

parentPort!.on("message", (ms: number) => parentPort!.postMessage(simdPeakGflops(ms)));
