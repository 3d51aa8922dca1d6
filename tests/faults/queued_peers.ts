/**
 * Peers that wait in the queue and then reset, for the tests of a reset
 * while queued (queued_reset_test.ts on the plain port, tls_resets_test.ts
 * on the TLS port).
 */
import { assertEquals } from "@std/assert";
import { eventually, parseStats, type TestClient, type TestServer } from "../helpers.ts";

/** A peer that has connected and sent a request; `reset()` ends its connection with a RST. */
export interface SentPeer {
  reset(): void;
}

/**
 * Waits until every one of `peers` is queued on `server` (STATS through
 * `holder`, which holds the only slot, and their "client queued" lines),
 * resets them all, and waits until the queue is empty while `holder` runs.
 */
export async function resetWhileQueued(
  server: TestServer,
  holder: TestClient,
  peers: SentPeer[],
): Promise<void> {
  const queuedNow = async () => parseStats(await holder.ask("STATS")).queued;
  await eventually(async () => await queuedNow() === peers.length, "the peers to be queued");
  // Their requests are read while they wait (so that nothing is lost); now they vanish.
  await eventually(
    () => server.log.filter((line) => line.includes("client queued")).length === peers.length,
    "the log lines of the queued peers",
  );
  for (const peer of peers) peer.reset();
  await eventually(
    async () => await queuedNow() === 0,
    "the reset peers to leave the queue (STATS queued 0) while the holder still runs",
  );
  assertEquals(parseStats(await holder.ask("STATS")).running, 1);
}
