/**
 * Faults at accept (docs/protocol.md#admission-the-queue-and-its-limits): connections that reset before the server got
 * to accept them are skipped at once, never paid for with a pause.
 */
import { assertEquals } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { sendAndReset } from "../../scripts/bench/peers.ts";
import { TestClient, TestServer } from "../helpers.ts";

Deno.test("200 connections reset before accept leave the server answering the next client at once", async () => {
  await using server = await TestServer.start();
  // Stopped, the server cannot accept: the kernel queues the connections,
  // and each is reset there, as a storm of short-lived peers does.
  server.signal("SIGSTOP");
  try {
    for (let i = 0; i < 200; i += 50) {
      await Promise.all(Array.from({ length: 50 }, () => sendAndReset(server.port, "PING\n")));
    }
  } finally {
    server.signal("SIGCONT");
  }
  using bystander = await TestClient.connect(server.port);
  // Before the fix each of those accepts cost a pause doubling up to 1 s: minutes in all.
  assertEquals(await deadline(bystander.ask("PING"), 10_000), "OK PONG");
  server.assertLogged(/accept.*(failed|paused)/, false);
});
