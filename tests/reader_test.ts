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

/** A reader as a queued connection has it: the default line limit, no timeouts. */
function queuedReader(peer: ConstructorParameters<typeof ConnReader>[0]): ConnReader {
  return new ConnReader(peer, {
    maxLine: 65_536,
    idleTimeoutMs: 0,
    requestTimeoutMs: 0,
    minRate: 0,
    stats: { bytes_in: 0 },
    logger: new Logger(),
    session: 1,
    onGone: () => {},
  });
}

Deno.test("a queued connection reads ahead about 4 KiB of an unfinished line, not a line's worth", async () => {
  const peer = new EndlessLine();
  const reader = queuedReader(peer);
  const ended = await reader.readAhead(() => true);
  assertEquals(ended, false);
  // The rest stays in the peer's socket until the connection's turn comes.
  assertGreaterOrEqual(reader.frame.buffered, 4096);
  assertLess(reader.frame.buffered, 8192);
  assertLess(peer.reads, 10);
});

/** A peer that stays silent: its reads never complete, and it records the buffers they pin. */
class SilentPeer {
  readonly sizes: number[] = [];

  read(p: Uint8Array): Promise<number | null> {
    this.sizes.push(p.length);
    return new Promise(() => {});
  }

  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(p.length);
  }
}

Deno.test("a silent queued connection waits with a 64-byte read, not a 2 KiB one", () => {
  const peer = new SilentPeer();
  const reader = queuedReader(peer);
  // Never settles: the peer is silent. What matters is the buffer its read pins.
  void reader.readAhead(() => true);
  assertEquals(peer.sizes, [64]);
  assertEquals(reader.frame.capacity, 0);
});

Deno.test("a queued connection that starts sending reads on in 2 KiB reads", async () => {
  const peer = new EndlessLine();
  const reader = queuedReader(peer);
  await reader.readAhead(() => true);
  // 64 bytes first, then 1,000 per read (the peer's most, so 2 KiB buffers), until 4 KiB or more.
  assertEquals(reader.frame.buffered, 64 + 5 * 1000);
  assertEquals(peer.reads, 6);
});
