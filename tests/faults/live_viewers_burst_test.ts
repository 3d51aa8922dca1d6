/**
 * A burst of live-page viewers on the metrics port (docs/observability.md#live-view):
 * 64 `GET /events` requests that arrive together must not take all 64 places of
 * the endpoint. At most 48 are streams, so a balancer's `/healthz` always gets
 * through (docs/observability.md#health).
 */
import { assert, assertEquals } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { metricsBase, TestServer } from "../helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Connections the endpoint holds at once (metrics_endpoint.ts MAX_CONNECTIONS). */
const ENDPOINT_PLACES = 64;
/** Streams at most (live_stream.ts MAX_VIEWERS). */
const MAX_VIEWERS = 48;

/** The first line of the response on `conn`, or why there was none. */
async function statusLine(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  try {
    while (!text.includes("\r\n")) {
      const n = await deadline(conn.read(buffer), 10_000);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
  } catch (error) {
    return `no status line: ${error}`;
  }
  return text === "" ? "closed without a response" : text.split("\r\n")[0]!;
}

/** `GET /healthz` on a fresh connection: its status line. */
async function probe(port: number): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"));
  return await statusLine(conn);
}

Deno.test("64 /events requests sent at once get at most 48 streams, and /healthz still answers 200", async () => {
  await using server = await TestServer.start(["--threads", "2", "--metrics-port", "0"]);
  const port = Number(new URL(metricsBase(server)).port);
  const viewers: Deno.Conn[] = [];
  try {
    for (let i = 0; i < ENDPOINT_PLACES; i++) {
      viewers.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    // Every request is on the wire before the server has answered any of them.
    await Promise.all(
      viewers.map((conn) => conn.write(encoder.encode("GET /events HTTP/1.1\r\nhost: x\r\n\r\n"))),
    );
    const statuses = await Promise.all(viewers.map(statusLine));
    const streams = statuses.filter((status) => status === "HTTP/1.1 200 OK").length;
    const refused = statuses.filter((status) => status === "HTTP/1.1 503 Service Unavailable");
    assertEquals(streams + refused.length, ENDPOINT_PLACES, `statuses: ${statuses.join(", ")}`);
    assert(streams <= MAX_VIEWERS, `${streams} streams open at once, over ${MAX_VIEWERS}`);
    // The streams stay open (their viewers are still here): a health check must get through.
    assertEquals(await probe(port), "HTTP/1.1 200 OK", "/healthz while the viewers watch");
  } finally {
    for (const conn of viewers) {
      try {
        conn.close();
      } catch {
        // Closed by the server.
      }
    }
  }
});
