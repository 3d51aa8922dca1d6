/**
 * The HTTP endpoint of `--metrics-port` (docs/observability.md): `GET /metrics`,
 * `GET /healthz`, and the live page (`GET /`, with its event stream `GET /events`:
 * live_page.ts, live_stream.ts), one request per connection.
 *
 * Why by hand and not `Deno.serve`: the endpoint must obey the same limits
 * as the protocol port (docs/protocol.md#limits-and-bad-input), and `Deno.serve` gives no handle on them.
 * Measured on Deno 2.9.6: it has no cap on connections and no deadline for
 * request headers, so 20,000 idle connections exhausted the descriptors,
 * and its accept loop then threw an uncaught `Too many open files` that
 * ended the process; so did one scrape while the protocol port had used the
 * descriptors up. Here the accept loop is the server's own (acceptor.ts),
 * at most {@linkcode MAX_CONNECTIONS} are open at once (http_connections.ts:
 * a newcomer replaces the oldest one still waiting for its request, so a
 * health check always gets through), and one whose headers are not complete
 * in {@linkcode HEADER_TIMEOUT_MS} is closed. Two paths and a few headers is
 * all a Prometheus scraper needs.
 */
import { deadline } from "@std/async/deadline";
import { closeQuietly, writeAll } from "../../io.ts";
import type { Logger } from "../log.ts";
import { acceptLoop } from "../door/acceptor.ts";
import { HttpConnections } from "./http_connections.ts";
import { type MetricsSource, renderMetrics, type RequestDurations } from "./metrics.ts";
import { LIVE_PAGE, LIVE_PAGE_HEADERS } from "./live_page.ts";
import type { LiveStream } from "./live_stream.ts";

/**
 * Connections open at once; one more replaces the oldest that has not sent a
 * complete request, or is closed at once if every open one is being served.
 */
export const MAX_CONNECTIONS = 64;
/** A request whose headers are not complete this long after accept is closed. */
export const HEADER_TIMEOUT_MS = 10_000;
/** Longest request head read; a scraper's is a few hundred bytes. Past it: 431. */
export const MAX_HEAD_BYTES = 8192;
/**
 * After a 431, what more of the request is read and dropped before the
 * close: closing with unread bytes in the socket sends a reset, which can
 * destroy the answer before the client reads it. Bounded, so a client that
 * keeps sending is closed anyway.
 */
const LINGER = { bytes: 64 * 1024, ms: 1000 };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where `/metrics` listens. */
export interface MetricsAddress {
  hostname: string;
  port: number;
}

/** Options of {@linkcode serveMetrics}. */
export interface MetricsOptions extends MetricsAddress {
  /** The counters and request durations of the whole server, gathered from every network thread. */
  gather: () => Promise<{ server: MetricsSource; durations: RequestDurations }>;
  /**
   * Why the server should get no new clients now (shutting down, its store
   * unreachable), one line; undefined while it accepts. `/healthz` answers
   * 503 with it, so that a balancer sends clients elsewhere.
   */
  unhealthy: () => string | undefined;
  logger: Logger;
  /** The live page's event stream; without it, `/` and `/events` are not found. */
  live?: LiveStream | undefined;
  /** Default {@linkcode HEADER_TIMEOUT_MS} (docs/protocol.md#limits-and-bad-input); tests use less. */
  headerTimeoutMs?: number;
}

/** The running endpoint. */
export interface MetricsEndpoint {
  readonly addr: Deno.NetAddr;
  close(): Promise<void>;
}

/** A response before encoding. */
interface Answer {
  status: 200 | 400 | 404 | 405 | 431 | 503;
  body: string;
  type?: string;
  headers?: readonly string[];
}

const REASONS: Record<Answer["status"], string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** Starts the endpoint; throws (AddrInUse, NotCapable…) if it cannot bind. */
export function serveMetrics(options: MetricsOptions): MetricsEndpoint {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const open = new HttpConnections<Deno.Conn>(MAX_CONNECTIONS);
  let closed = false;
  const accepting = acceptLoop(listener, (conn) => {
    if (open.admit(conn) === "refused") return;
    serveOne(conn, open, options).finally(() => open.release(conn));
  }, { logger: options.logger, what: "metrics scrapes", closed: () => closed });
  return {
    addr: listener.addr as Deno.NetAddr,
    async close() {
      closed = true;
      closeQuietly(listener);
      options.live?.close();
      await accepting;
      open.closeAll();
    },
  };
}

/** Reads one request head (within the header deadline), answers it, and returns; never throws. */
async function serveOne(
  conn: Deno.Conn,
  open: HttpConnections<Deno.Conn>,
  options: MetricsOptions,
): Promise<void> {
  try {
    const head = await deadline(readHead(conn), options.headerTimeoutMs ?? HEADER_TIMEOUT_MS);
    if (head === undefined) return;
    if (head === TOO_LARGE) {
      const body = `request head over ${MAX_HEAD_BYTES} bytes\n`;
      await writeAll(
        conn,
        encoder.encode(
          `HTTP/1.1 431 ${REASONS[431]}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
            `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        ),
      );
      await conn.closeWrite();
      await deadline(drain(conn, LINGER.bytes), LINGER.ms).catch(() => {});
      return;
    }
    open.requested(conn);
    // The event stream keeps the connection (and its place among the 64) while the page is open.
    if (options.live !== undefined && /^GET \/events[ ?]/.test(head)) {
      return await options.live.serve(conn);
    }
    const answer = await route(head, options);
    const headOnly = head.startsWith("HEAD ");
    const body = encoder.encode(answer.body);
    const headers = [
      `HTTP/1.1 ${answer.status} ${REASONS[answer.status]}`,
      `content-type: ${answer.type ?? "text/plain; charset=utf-8"}`,
      `content-length: ${body.length}`,
      ...(answer.status === 405 ? ["allow: GET, HEAD"] : []),
      ...(answer.headers ?? []),
      "connection: close",
      "",
      "",
    ].join("\r\n");
    await writeAll(conn, encoder.encode(headers));
    if (!headOnly) await writeAll(conn, body);
  } catch {
    // The scraper went away, or its headers did not come in time: close.
  }
}

/** {@linkcode readHead}: the head did not end within {@linkcode MAX_HEAD_BYTES}. */
const TOO_LARGE = Symbol("too large");

/** The request head up to the blank line; undefined if the peer closed first, TOO_LARGE past the limit. */
async function readHead(conn: Deno.Conn): Promise<string | typeof TOO_LARGE | undefined> {
  const buf = new Uint8Array(MAX_HEAD_BYTES);
  let filled = 0;
  while (filled < buf.length) {
    const n = await conn.read(buf.subarray(filled));
    if (n === null) return undefined;
    filled += n;
    const text = decoder.decode(buf.subarray(0, filled));
    if (text.includes("\r\n\r\n") || text.includes("\n\n")) return text;
  }
  return TOO_LARGE;
}

/** Reads and drops up to `limit` bytes, until the peer closes. */
async function drain(conn: Deno.Conn, limit: number): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  for (let left = limit; left > 0;) {
    const n = await conn.read(buf);
    if (n === null) return;
    left -= n;
  }
}

/** The answer for a request head. */
async function route(head: string, options: MetricsOptions): Promise<Answer> {
  const [method, target] = head.slice(0, head.indexOf("\n")).trim().split(" ");
  if (method !== "GET" && method !== "HEAD") return { status: 405, body: "only GET\n" };
  if (target === undefined) return { status: 400, body: "bad request\n" };
  const path = target.split("?")[0];
  if (path === "/metrics") {
    const { server, durations } = await options.gather();
    return {
      status: 200,
      body: renderMetrics(server, durations),
      type: "text/plain; version=0.0.4; charset=utf-8",
    };
  }
  if (path === "/healthz") {
    const reason = options.unhealthy();
    return reason === undefined
      ? { status: 200, body: "ok\n" }
      : { status: 503, body: `${reason.replaceAll(/[\r\n]+/g, " ")}\n` };
  }
  if (path === "/" && options.live !== undefined) {
    return {
      status: 200,
      body: LIVE_PAGE,
      type: "text/html; charset=utf-8",
      headers: LIVE_PAGE_HEADERS,
    };
  }
  return { status: 404, body: "not found: try /, /metrics or /healthz\n" };
}
