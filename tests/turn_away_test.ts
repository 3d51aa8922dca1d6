/** Unit tests of TurnAway: the refused client's line, the lingering close, and its bounds. */
import { assertEquals } from "@std/assert";
import { err } from "../lib/protocol/mod.ts";
import { type RefusedConn, TurnAway } from "../lib/server/admission/turn_away.ts";

const DENIED = err("denied", "your address is not allowed");

/** A connection whose peer sends `incoming` (then EOF, unless `endless`) and records what happens. */
class FakeConn implements RefusedConn {
  readonly events: string[] = [];
  written = "";
  closed = false;
  #wakeReader: () => void = () => {};

  constructor(readonly incoming: number[], readonly endless = false) {}

  write(p: Uint8Array): Promise<number> {
    this.written += new TextDecoder().decode(p);
    this.events.push("write");
    return Promise.resolve(p.length);
  }

  closeWrite(): Promise<void> {
    this.events.push("closeWrite");
    return Promise.resolve();
  }

  async read(p: Uint8Array): Promise<number | null> {
    const next = this.incoming.shift();
    if (next !== undefined) {
      this.events.push(`read ${next}`);
      return Math.min(next, p.length);
    }
    if (!this.endless) return null;
    // A peer that neither sends nor hangs up: only the close ends this read.
    await new Promise<void>((resolve) => this.#wakeReader = resolve);
    throw new Deno.errors.BadResource("closed");
  }

  close(): void {
    if (this.closed) throw new Deno.errors.BadResource("closed twice");
    this.closed = true;
    this.events.push("close");
    this.#wakeReader();
  }
}

Deno.test("TurnAway writes the line, half-closes, drains what the client still sends, then closes", async () => {
  const conn = new FakeConn([100, 200]);
  await new TurnAway({ lingerMs: 5_000 }).refuse(conn, DENIED);
  assertEquals(conn.written, "ERR denied your address is not allowed\n");
  assertEquals(conn.events, ["write", "closeWrite", "read 100", "read 200", "close"]);
});

Deno.test("TurnAway closes a client that neither hangs up nor stops at the linger deadline", async () => {
  const conn = new FakeConn([], true);
  const turnAway = new TurnAway({ lingerMs: 20 });
  await turnAway.refuse(conn, DENIED);
  assertEquals(conn.closed, true);
  assertEquals(turnAway.lingering, 0);
});

Deno.test("TurnAway stops draining after 64 KiB and closes", async () => {
  const conn = new FakeConn(new Array(100).fill(4096), true);
  await new TurnAway({ lingerMs: 5_000 }).refuse(conn, DENIED);
  assertEquals(conn.events.filter((e) => e.startsWith("read")).length, 16);
  assertEquals(conn.events.at(-1), "close");
});

Deno.test("TurnAway closes right after the line once the lingering cap is reached", async () => {
  const turnAway = new TurnAway({ lingerMs: 5_000, maxLingering: 1 });
  const first = new FakeConn([], true);
  const lingering = turnAway.refuse(first, DENIED);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(turnAway.lingering, 1);
  const second = new FakeConn([10]);
  await turnAway.refuse(second, DENIED);
  assertEquals(second.events, ["write", "close"]);
  first.close(); // the peer of the first one goes away
  await lingering;
  assertEquals(turnAway.lingering, 0);
});
