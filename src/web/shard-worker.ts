/** One thread of data-parallel training in a browser: the shard host on this Web Worker. */
import { hostShards } from "../esmm/shard-host.js";
import type { ShardInit } from "../esmm/pool.js";

const scope = self as unknown as { postMessage(m: unknown, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent) => void) | null };
scope.onmessage = (e: MessageEvent) => {
  const m = e.data as { type: string; init?: ShardInit };
  if (m.type !== "init") return;
  try {
    const handle = hostShards(m.init!, (msg, transfer) => scope.postMessage(msg, transfer ?? []));
    scope.onmessage = (ev: MessageEvent) => handle(ev.data);
    scope.postMessage({ type: "ready" });
  } catch (err) {
    scope.postMessage({ type: "error", message: (err as Error).message });
  }
};
