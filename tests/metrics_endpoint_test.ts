/**
 * The metrics endpoint's own bounds (docs/protocol.md#limits-and-bad-input): at most 64 connections at
 * once, each closed if its request headers are not complete in time, and
 * the scrape still answered after both.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { Logger } from "../lib/server/log.ts";
import { type MetricsSource, RequestDurations } from "../lib/server/observability/metrics.ts";
import { MAX_CONNECTIONS, serveMetrics } from "../lib/server/observability/metrics_endpoint.ts";
import { Stats } from "../lib/server/observability/stats.ts";

const source: MetricsSource = {
  stats: new Stats(),
  maxRunning: 1,
  threads: 1,
  running: () => 0,
  queued: () => 0,
  workers: { stats: () => ({ workers: 1, jobs_total: 0, jobs_running: 0, jobs_queued: 0 }) },
  hashes: { computedTotal: 0 },
};

/** True once the server closes `conn` (EOF or reset), within `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  try {
    await deadline(conn.read(new Uint8Array(64)), ms);
    return true;
  } catch (error) {
    return !(error instanceof DOMException && error.name === "TimeoutError");
  }
}

/** The endpoint on a free port, with `source`'s numbers, healthy unless `unhealthy` says why not. */
function serve(unhealthy: () => string | undefined): ReturnType<typeof serveMetrics> {
  return serveMetrics({
    hostname: "127.0.0.1",
    port: 0,
    gather: () => Promise.resolve({ server: source, durations: new RequestDurations() }),
    unhealthy,
    logger: new Logger(),
  });
}

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return await response.text();
}

Deno.test("the metrics endpoint holds 64 connections: a newcomer replaces the oldest idle one, and a slow one is closed at the header deadline", async () => {
  const endpoint = serveMetrics({
    hostname: "127.0.0.1",
    port: 0,
    gather: () => Promise.resolve({ server: source, durations: new RequestDurations() }),
    unhealthy: () => undefined,
    logger: new Logger(),
    headerTimeoutMs: 1_500,
  });
  const port = endpoint.addr.port;
  const idle: Deno.Conn[] = [];
  try {
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      idle.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    using extra = await Deno.connect({ hostname: "127.0.0.1", port });
    assertEquals(
      await closedWithin(idle[0]!, 1_000),
      true,
      "the 65th connection replaces the oldest idle one",
    );
    assertEquals(await closedWithin(idle[1]!, 200), false, "the second oldest stays");
    await extra.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\n\r\n"));
    const reply = new Uint8Array(512);
    const n = await deadline(extra.read(reply), 5_000);
    assertMatch(new TextDecoder().decode(reply.subarray(0, n ?? 0)), /^HTTP\/1\.1 200 OK/);
    // Nothing sent: each idle connection is closed once its headers are overdue.
    for (const conn of idle.slice(2)) {
      assertEquals(
        await closedWithin(conn, 5_000),
        true,
        "an idle scraper is closed at the deadline",
      );
    }
    assertMatch(await scrape(port), /^switchboard_running 0$/m, "and a real scrape is answered");
  } finally {
    for (const conn of idle) {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
    await endpoint.close();
  }
});

Deno.test("/healthz answers 200 ok, or 503 with the one-line reason the server gives", async () => {
  let reason: string | undefined;
  const endpoint = serve(() => reason);
  try {
    const health = async () => {
      const response = await fetch(`http://127.0.0.1:${endpoint.addr.port}/healthz`);
      return [response.status, await response.text()];
    };
    assertEquals(await health(), [200, "ok\n"]);
    reason = "store unreachable: connection refused\r\nat 10.0.0.5:5432";
    assertEquals(await health(), [503, "store unreachable: connection refused at 10.0.0.5:5432\n"]);
    reason = undefined;
    assertEquals(await health(), [200, "ok\n"]);
  } finally {
    await endpoint.close();
  }
});

Deno.test("a request head over 8 KiB is answered 431, and the endpoint serves the next scrape", async () => {
  const endpoint = serve(() => undefined);
  try {
    const ask = async (request: string): Promise<string> => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: endpoint.addr.port });
      try {
        const writing = conn.write(new TextEncoder().encode(request)).catch(() => 0);
        let text = "";
        const buffer = new Uint8Array(65536);
        await deadline(
          (async () => {
            for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
              text += new TextDecoder().decode(buffer.subarray(0, n));
            }
          })(),
          10_000,
        );
        await writing;
        return text;
      } finally {
        conn.close();
      }
    };
    const header = `GET /metrics HTTP/1.1\r\nhost: test\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`;
    const line = `GET /${"b".repeat(100_000)} HTTP/1.1\r\nhost: test\r\n\r\n`;
    for (const request of [header, line]) {
      const response = await ask(request);
      assertMatch(response, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
      assertMatch(response, /\r\n\r\nrequest head over 8192 bytes\n$/);
    }
    assertMatch(await scrape(endpoint.addr.port), /switchboard_running 0/);
  } finally {
    await endpoint.close();
  }
});
