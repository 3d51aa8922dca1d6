/** How often the server's timeout sweep runs, for any timeout. */
import { assertEquals } from "@std/assert";
import { sweepMs } from "../lib/server/connection/timeout_sweep.ts";

Deno.test("the timeout sweep runs 8 times per timeout, between every 10 ms and every second", () => {
  assertEquals(sweepMs(500), 62.5);
  assertEquals(sweepMs(8000), 1000);
  assertEquals(sweepMs(300_000), 1000, "the default 300 s idle timeout: once a second");
  assertEquals(sweepMs(40), 10, "a tiny timeout is not swept more often than every 10 ms");
});
