/** How often the server's idle sweep runs, for any --idle-timeout. */
import { assertEquals } from "@std/assert";
import { idleSweepMs } from "../lib/server/idle_sweep.ts";

Deno.test("the idle sweep runs 8 times per timeout, between every 10 ms and every second", () => {
  assertEquals(idleSweepMs(500), 62.5);
  assertEquals(idleSweepMs(8000), 1000);
  assertEquals(idleSweepMs(300_000), 1000, "the default 300 s timeout: once a second");
  assertEquals(idleSweepMs(40), 10, "a tiny timeout is not swept more often than every 10 ms");
});
