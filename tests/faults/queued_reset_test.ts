/**
 * A queued client that resets (RST, not FIN) after sending a request
 * (docs/protocol.md#admission-the-queue-and-its-limits): it has hung up, so it
 * leaves the queue at once and never takes a slot. Only a half-close (FIN
 * with requests pending) keeps its place, since that peer can still read
 * its replies; a reset peer cannot.
 */
import net from "node:net";
import { assertEquals } from "@std/assert";
import { TestClient, TestServer } from "../helpers.ts";
import { resetWhileQueued, type SentPeer } from "./queued_peers.ts";

/** A peer that has connected and sent `bytes`; `reset()` ends it with a RST. */
function connectAndSend(port: number, bytes: string): Promise<SentPeer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(bytes, () => resolve({ reset: () => socket.resetAndDestroy() }));
    });
    socket.on("error", reject);
  });
}

Deno.test("a queued client that sent a request and then reset leaves the queue at once", async () => {
  await using server = await TestServer.start(["--threads", "2", "--max-running", "1"]);
  using holder = await TestClient.connect(server.port);
  assertEquals(await holder.ask("PING"), "OK PONG");
  const peers = [];
  for (let i = 0; i < 5; i++) peers.push(await connectAndSend(server.port, `PING ${i}\n`));
  await resetWhileQueued(server, holder, peers);
});
