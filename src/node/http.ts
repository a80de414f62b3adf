/** What esmm-ts's two local servers (the static one and the scoring one) share: who may ask, and how they listen. */
import type { IncomingMessage, Server } from "node:http";

const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"];

/** Whether `host` (what a server binds) is this machine only. */
export function isLoopback(host: string): boolean {
  return host === "127.0.0.1" || host === "localhost" || host === "::1";
}

/**
 * Whether a request's Host header names this machine (127.0.0.1, localhost, [::1]) with the
 * server's port: a page elsewhere that reaches a loopback server through DNS rebinding sends its own
 * name, and is refused (421).
 */
export function loopbackHostOk(req: IncomingMessage, boundPort: number): boolean {
  const h = (req.headers.host ?? "").toLowerCase();
  return LOOPBACK_HOSTS.some((n) => h === `${n}:${boundPort}` || (boundPort === 80 && h === n));
}

/** Listens on `port` (0: a free one) and `host`; resolves with the server and its URL, and tells `bound` the port. */
export function listen(server: Server, port: number, host: string, bound: (port: number) => void): Promise<{ server: Server; url: string }> {
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const p = typeof addr === "object" && addr ? addr.port : port;
      bound(p);
      const shown = host.includes(":") ? `[${host}]` : host;
      resolvePromise({ server, url: `http://${shown}:${p}` });
    });
  });
}

