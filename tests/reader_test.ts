/** ConnReader (lib/server/connection/reader.ts) with a connection played by the test. */
import { assertEquals, assertGreaterOrEqual, assertLess } from "@std/assert";
import { Logger } from "../lib/server/log.ts";
import { ConnReader } from "../lib/server/connection/reader.ts";

/** A peer that sends a line that never ends, 1,000 bytes per read, for as long as it is read. */
class EndlessLine {
  reads = 0;

  read(p: Uint8Array): Promise<number | null> {
    this.reads++;
    const n = Math.min(1000, p.length);
    p.fill(0x78, 0, n);
    return Promise.resolve(n);
  }

  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(p.length);
  }
}

Deno.test("a queued connection reads ahead about 4 KiB of an unfinished line, not a line's worth", async () => {
  const peer = new EndlessLine();
  const reader = new ConnReader(peer, {
    maxLine: 65_536,
    idleTimeoutMs: 0,
    requestTimeoutMs: 0,
    minRate: 0,
    stats: { bytes_in: 0 },
    logger: new Logger(),
    session: 1,
    onGone: () => {},
  });
  const ended = await reader.readAhead(() => true);
  assertEquals(ended, false);
  // The rest stays in the peer's socket until the connection's turn comes.
  assertGreaterOrEqual(reader.frame.buffered, 4096);
  assertLess(reader.frame.buffered, 8192);
  assertLess(peer.reads, 10);
});
