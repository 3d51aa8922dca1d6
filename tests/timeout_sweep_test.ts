/** How often the server's timeout sweep runs, for any timeout. */
import { assertEquals } from "@std/assert";
import { sweepMs } from "../lib/server/connection/timeout_sweep.ts";

Deno.test("the timeout sweep runs 16 times per timeout, between every 10 ms and every half second", () => {
  assertEquals(sweepMs(1000), 62.5);
  assertEquals(sweepMs(8000), 500);
  assertEquals(sweepMs(300_000), 500, "the default 300 s idle timeout: twice a second");
  assertEquals(sweepMs(100), 10, "a tiny timeout is not swept more often than every 10 ms");
});
