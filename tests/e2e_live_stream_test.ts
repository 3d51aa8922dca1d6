/**
 * End to end: the live page's event stream (docs/observability.md#live-view) against
 * hostile viewers, with real sockets: one that never reads costs a bounded
 * buffer and then its connection; streams count against the metrics
 * endpoint's 64 connections, and at most 48 of them are streams.
 */
import { readProc } from "./procfs.ts";
import { assert, assertEquals, assertMatch } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { eventually, TestClient, TestServer } from "./helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EVENTS_REQUEST = encoder.encode("GET /events HTTP/1.1\r\nhost: test\r\n\r\n");

async function metricsPort(server: TestServer): Promise<number> {
  let port: number | undefined;
  await eventually(() => {
    const line = server.log.find((l) => l.includes("metrics on "));
    port = line === undefined ? undefined : Number(/:(\d+)\/metrics/.exec(line)?.[1]);
    return port !== undefined;
  }, "the metrics address in the log");
  return port!;
}

/** A raw viewer: the request sent, the response read up to its first event. */
async function openViewer(port: number): Promise<{ conn: Deno.Conn; head: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(EVENTS_REQUEST);
  let text = "";
  const buffer = new Uint8Array(65536);
  await deadline(
    (async () => {
      while (!text.includes("\n\ndata: ") && !text.startsWith("HTTP/1.1 503")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += decoder.decode(buffer.subarray(0, n));
      }
    })(),
    10_000,
  ).catch(() => {
    throw new Error(`no first event from /events within 10 s; got ${JSON.stringify(text)}`);
  });
  return { conn, head: text.slice(0, text.indexOf("\r\n")) };
}

/** Reads `conn` until an event sampled after `since` (Unix ms) arrives, or fails saying `what`. */
async function receivesAfter(conn: Deno.Conn, since: number, what: string): Promise<void> {
  const buffer = new Uint8Array(65536);
  let text = "";
  const sampledAfter = () =>
    [...text.matchAll(/data: \{"at":(\d+)/g)].some((match) => Number(match[1]) > since);
  await deadline(
    (async () => {
      while (!sampledAfter()) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error(`${what}: the stream ended`);
        text = (text + decoder.decode(buffer.subarray(0, n))).slice(-200_000);
      }
    })(),
    10_000,
  ).catch((error: unknown) => {
    throw new Error(`${what}: no event sampled after ${since} within 10 s (${error})`);
  });
}

/** The kernel's state of the TCP socket from local port `local` to `remote` (Linux /proc/net/tcp). */
function tcpState(local: number, remote: number): string | undefined {
  const hex = (port: number) => `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of readProc("/proc/net/tcp").split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === hex(local) && fields[2] === hex(remote)) return fields[3];
  }
  return undefined;
}

function maxBufferBytes(name: "tcp_wmem" | "tcp_rmem"): number {
  const text = readProc(`/proc/sys/net/ipv4/${name}`);
  return Number(text.trim().split(/\s+/)[2]);
}

const ESTABLISHED = "01";

Deno.test({
  name: "live stream: a viewer that never reads is closed after a bounded buffer",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using server = await TestServer.start(["--max-running", "500", "--metrics-port", "0"]);
    const port = await metricsPort(server);
    // 500 named clients make each sample about 150 KB, so the socket buffers fill in seconds.
    const clients: TestClient[] = [];
    try {
      for (let i = 0; i < 500; i++) {
        const client = await TestClient.connect(server.port);
        clients.push(client);
        await client.send(`HELLO ${"n".repeat(90)}${i} ${i} user${i}`);
      }
      for (const client of clients) assertMatch(await client.readText(), /^OK hello /);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(EVENTS_REQUEST);
      const local = (conn.localAddr as Deno.NetAddr).port;
      // The server's side of the socket: it leaves ESTABLISHED (FIN_WAIT1) when the server closes,
      // even though its FIN waits behind the bytes this viewer never read.
      await eventually(
        () => tcpState(port, local) !== ESTABLISHED,
        "the server to close the viewer that does not read",
        90_000,
      );
      let total = 0;
      const buffer = new Uint8Array(1 << 20);
      try {
        for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) total += n;
      } catch {
        // A reset also ends it.
      }
      conn.close();
      // What it could get: the kernel's two socket buffers and one sample in flight, no more.
      const bound = maxBufferBytes("tcp_wmem") + maxBufferBytes("tcp_rmem") + (1 << 20);
      assert(total <= bound, `the stalled viewer received ${total} bytes, over ${bound}`);
      assert(total > 0, "the viewer got the stream before it stalled");
      // The server goes on: a new viewer is served.
      const viewer = await openViewer(port);
      assertEquals(viewer.head, "HTTP/1.1 200 OK");
      viewer.conn.close();
    } finally {
      for (const client of clients) client.close();
    }
  },
});

Deno.test("live stream: streams count against the endpoint's 64 connections, 48 at most", async () => {
  await using server = await TestServer.start(["--metrics-port", "0"]);
  const port = await metricsPort(server);
  const viewers: Deno.Conn[] = [];
  const idle: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 48; i++) {
      const viewer = await openViewer(port);
      assertEquals(viewer.head, "HTTP/1.1 200 OK", `viewer ${i + 1}`);
      viewers.push(viewer.conn);
    }
    const refused = await openViewer(port);
    assertEquals(refused.head, "HTTP/1.1 503 Service Unavailable", "the 49th viewer");
    refused.conn.close();
    // 48 streams and 16 connections that have sent nothing: the endpoint is full.
    for (let i = 0; i < 16; i++) idle.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const newcomer = await Deno.connect({ hostname: "127.0.0.1", port });
    idle.push(newcomer);
    // One connection has to go for the newcomer (the newcomer itself, or the oldest one
    // without a request): never a stream, and well before the 10 s header deadline.
    const ended = idle.map((conn, index) =>
      conn.read(new Uint8Array(16)).then(() => index, () => index)
    );
    const filledAt = Date.now();
    const first = await deadline(Promise.race(ended), 5_000).catch(() => {
      throw new Error("no connection was closed for the 65th within 5 s");
    });
    assert(first >= 0);
    for (const [index, viewer] of viewers.entries()) {
      await receivesAfter(viewer, filledAt, `viewer ${index + 1} after the endpoint filled`);
    }
    // A viewer that leaves frees its place for the next one.
    viewers.pop()!.close();
    await eventually(async () => {
      const viewer = await openViewer(port);
      viewer.conn.close();
      return viewer.head === "HTTP/1.1 200 OK";
    }, "a new viewer to be served after one left");
  } finally {
    for (const conn of [...viewers, ...idle]) {
      try {
        conn.close();
      } catch {
        // Closed by the server.
      }
    }
  }
});

Deno.test("live page: one HTML file that loads nothing from elsewhere, under a CSP of its own hashes", async () => {
  await using server = await TestServer.start(["--metrics-port", "0"]);
  const port = await metricsPort(server);
  const response = await fetch(`http://127.0.0.1:${port}/`);
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("content-type"), "text/html; charset=utf-8");
  const html = await response.text();
  // No src= or href= but the page's own: the favicon placeholder and /metrics.
  const references = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1]);
  assertEquals(references, ["data:,", "/metrics"]);
  const policy = response.headers.get("content-security-policy") ?? "";
  assertMatch(
    policy,
    /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; script-src 'sha256-/,
  );
  assertMatch(policy, /connect-src 'self'/);
  const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(script)));
  assert(policy.includes(`'sha256-${btoa(String.fromCharCode(...digest))}'`), "the script's hash");
  assertEquals((await fetch(`http://127.0.0.1:${port}/nothing`)).status, 404);
});

Deno.test({
  name:
    "live stream: with more queued than a sample's rows on each thread, the sample counts every connection",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Each of the two threads sends the hub at most 500 rows of each state (MAX_ROWS): the totals
    // must come from the server's counts, not from the rows.
    await using server = await TestServer.start([
      "--threads",
      "2",
      "--max-running",
      "1",
      "--queue-limit",
      "2000",
      "--metrics-port",
      "0",
    ]);
    const port = await metricsPort(server);
    const CLIENTS = 1_100;
    const clients: Deno.Conn[] = [];
    try {
      for (let i = 0; i < CLIENTS; i++) {
        clients.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      }
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(EVENTS_REQUEST);
        const buffer = new Uint8Array(1 << 16);
        let text = "";
        let last:
          | { running: number; queued: number; connections: Array<{ id: number; state: string }> }
          | undefined;
        await eventually(
          async () => {
            const n = await conn.read(buffer);
            if (n === null) throw new Error("the stream ended");
            text += decoder.decode(buffer.subarray(0, n));
            for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
              const data = /^data: (.*)$/m.exec(text.slice(0, end))?.[1];
              text = text.slice(end + 2);
              if (data !== undefined) last = JSON.parse(data);
            }
            return last !== undefined && last.running + last.queued === CLIENTS;
          },
          `a sample counting all ${CLIENTS} connections`,
          30_000,
        ).catch((error) => {
          throw new Error(
            `${error}; the last sample: ${last?.running} running, ${last?.queued} queued`,
          );
        });
        const sample = last!;
        assertEquals([sample.running, sample.queued], [1, CLIENTS - 1]);
        assertEquals(sample.connections.length, 500);
        assertEquals(sample.connections[0]!.state, "running");
        const queued = sample.connections.slice(1);
        assert(queued.every((row) => row.state === "queued"), "running first, then the queue");
        const ids = queued.map((row) => row.id);
        assertEquals(ids, [...ids].sort((a, b) => a - b), "the queue's rows in id order");
      } finally {
        conn.close();
      }
    } finally {
      for (const client of clients) client.close();
    }
  },
});
