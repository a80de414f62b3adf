/** What esmm-ts's two local servers (the static one and the scoring one) share: who may ask, and how they listen. */
import type { IncomingMessage, Server } from "node:http";

const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]"];

/**
 * Which requests a server bound to `host` answers. Bound to loopback (unless `anyHost`), only those
 * whose Host header names this machine (127.0.0.1, localhost, [::1]) with the port they came in on:
 * a page elsewhere that reaches a loopback server through DNS rebinding sends its own name, and is
 * refused (421). Bound elsewhere on purpose, every request.
 */
export function hostCheck(host: string, anyHost?: boolean): (req: IncomingMessage) => boolean {
  const loopback = host === "127.0.0.1" || host === "localhost" || host === "::1";
  if (anyHost ?? !loopback) return () => true;
  return (req) => {
    const h = (req.headers.host ?? "").toLowerCase();
    const port = req.socket.localPort;
    return LOOPBACK_HOSTS.some((n) => h === `${n}:${port}` || (port === 80 && h === n));
  };
}

/** Listens on `port` (0: a free one) and `host`; resolves with the server and its URL. */
export function listen(server: Server, port: number, host: string): Promise<{ server: Server; url: string }> {
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const p = typeof addr === "object" && addr ? addr.port : port;
      const shown = host.includes(":") ? `[${host}]` : host;
      resolvePromise({ server, url: `http://${shown}:${p}` });
    });
  });
}
