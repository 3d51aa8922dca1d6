/**
 * Idle connections on the metrics port (docs/observability.md#metrics): when all 64
 * places are taken, a newcomer replaces the oldest connection that has not sent
 * its request, so a balancer's `/healthz` always gets through.
 */
import { assertEquals } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { metricsBase, TestServer } from "../helpers.ts";

/** Idle connections held open on the metrics port in the test. */
const HOLDERS = 70;
/** Health checks sent while they are held. */
const PROBES = 20;

/** Sends `GET /healthz` on a fresh connection and returns the status line, or why there was none. */
async function probe(port: number): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"));
  const buf = new Uint8Array(1024);
  let text = "";
  try {
    for (;;) {
      const n = await deadline(conn.read(buf), 5_000);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
      if (text.includes("\r\n")) break;
    }
  } catch (error) {
    return `no status line: ${error}`;
  }
  return text === "" ? "closed without a response" : text.split("\r\n")[0]!;
}

Deno.test("70 idle connections on the metrics port do not stop 20 /healthz probes: each gets 200", async () => {
  await using server = await TestServer.start(["--metrics-port", "0"]);
  const port = Number(new URL(metricsBase(server)).port);
  const holders: Deno.Conn[] = [];
  try {
    for (let i = 0; i < HOLDERS; i++) {
      holders.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
    const statuses = await Promise.all(Array.from({ length: PROBES }, () => probe(port)));
    assertEquals(statuses, Array(PROBES).fill("HTTP/1.1 200 OK"));
  } finally {
    for (const conn of holders) conn.close();
  }
});
