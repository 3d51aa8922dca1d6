/**
 * A TLS client that resets (RST) is gone, as on the plain port: queued after
 * sending a request, it leaves the queue at once, gives back its
 * `--max-per-ip` count and never takes a slot (queued_reset_test.ts,
 * docs/protocol.md#admission-the-queue-and-its-limits); in the middle of a
 * COUNT, its remaining jobs are cancelled (e2e_count_test.ts). Only a
 * half-close is owed its replies. `node:tls` over Deno reports a peer's
 * reset as an end of input, so the server has to ask the TCP connection. A
 * TLS client that closes with the server's session tickets unread resets
 * this way too (the kernel sends a RST for unread data): every such client
 * that gives up.
 */
import net from "node:net";
import tls from "node:tls";
import { assertEquals, assertLess } from "@std/assert";
import { eventually, parseStats, TestClient, TestServer } from "../helpers.ts";
import { makeTlsFixture, tlsServerArgs } from "../tls_fixtures.ts";
import { resetWhileQueued, type SentPeer } from "./queued_peers.ts";

/** A TLS peer that has finished its handshake and sent `bytes`; `reset()` ends its TCP connection with a RST. */
function connectTlsAndSend(
  port: number,
  caCert: string,
  bytes: string,
): Promise<SentPeer> {
  return new Promise((resolve, reject) => {
    const tcp = net.connect(port, "127.0.0.1", () => {
      const secure = tls.connect({ socket: tcp, ca: caCert, servername: "localhost" }, () => {
        secure.write(bytes, () => resolve({ reset: () => tcp.resetAndDestroy() }));
      });
      secure.on("error", () => {}); // the reset we cause, seen from our side
    });
    tcp.on("error", reject);
  });
}

Deno.test("--threads 2, TLS port: a queued client that sent a request and then reset leaves the queue at once and gives back its per-address count", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    "--threads",
    "2",
    "--max-running",
    "1",
    "--max-per-ip",
    "6",
  ]);
  using holder = await TestClient.connectTls(server.port, fixture.caCertPem);
  assertEquals(await holder.ask("PING"), "OK PONG");
  const peers = [];
  for (let i = 0; i < 5; i++) {
    peers.push(await connectTlsAndSend(server.port, fixture.caCertPem, `PING ${i}\n`));
  }
  await resetWhileQueued(server, holder, peers);
  // Their counts came back: the address has 1 of its 6 in use again, so 5 newcomers all wait.
  const newcomers = [];
  for (let i = 0; i < 5; i++) {
    newcomers.push(await TestClient.connectTls(server.port, fixture.caCertPem));
  }
  try {
    const queuedNow = async () => parseStats(await holder.ask("STATS")).queued;
    await eventually(async () => await queuedNow() === 5, "5 newcomers from the address queued");
  } finally {
    for (const newcomer of newcomers) newcomer.close();
  }
});

Deno.test("TLS port: a client that resets in the middle of a COUNT cancels its queued jobs", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([...tlsServerArgs(fixture), "--workers", "1"]);
  const leaver = await connectTlsAndSend(server.port, fixture.caCertPem, "COUNT 0 500 50\n");
  using probe = await TestClient.connectTls(server.port, fixture.caCertPem);
  const stats = async () => parseStats(await probe.ask("STATS"));
  await eventually(async () => (await stats()).jobs_queued > 400, "the COUNT's jobs to queue");
  leaver.reset();
  await eventually(
    async () => (await stats()).jobs_queued === 0,
    "the reset client's queued jobs to be cancelled",
  );
  const after = await stats();
  assertLess(after.jobs_total, 100, `only the jobs already started ran: ${after.jobs_total}`);
  assertEquals(await probe.ask("COUNT 1 5"), "OK 6");
});
