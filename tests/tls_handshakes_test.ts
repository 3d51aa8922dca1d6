/** Unit tests of Handshakes (lib/server/door/tls_port.ts): the deadline, the cap, and what is reported. */
import { assertEquals } from "@std/assert";
import { type HandshakeFailure, Handshakes } from "../lib/server/door/tls_port.ts";

/** A TLS connection whose handshake finishes when the test says, or fails when it is closed. */
class FakeTlsConn {
  closed = false;
  #settle: { resolve: () => void; reject: (error: Error) => void } | undefined;

  handshake(): Promise<Deno.TlsHandshakeInfo> {
    return new Promise((resolve, reject) => {
      this.#settle = { resolve: () => resolve({ alpnProtocol: null }), reject };
    });
  }

  /** The peer completes the handshake. */
  finish(): void {
    this.#settle?.resolve();
  }

  close(): void {
    if (this.closed) throw new Deno.errors.BadResource("closed twice");
    this.closed = true;
    this.#settle?.reject(new Deno.errors.Interrupted("operation canceled"));
  }
}

function handshakes(options: { timeoutMs?: number; max?: number } = {}) {
  const failures: HandshakeFailure[] = [];
  const pool = new Handshakes({
    timeoutMs: options.timeoutMs ?? 0,
    ...(options.max === undefined ? {} : { max: options.max }),
    onFailure: (why) => failures.push(why),
  });
  const run = (conn: FakeTlsConn) => pool.run(conn as unknown as Deno.TlsConn);
  return { pool, failures, run };
}

Deno.test("Handshakes resolves true for a finished handshake and leaves the connection open", async () => {
  const { pool, failures, run } = handshakes({ timeoutMs: 10_000 });
  const conn = new FakeTlsConn();
  const done = run(conn);
  assertEquals(pool.size, 1);
  conn.finish();
  assertEquals([await done, conn.closed, failures, pool.size], [true, false, [], 0]);
});

Deno.test("Handshakes closes a handshake that misses its deadline and reports it timed out", async () => {
  const { failures, run } = handshakes({ timeoutMs: 20 });
  const conn = new FakeTlsConn();
  assertEquals(await run(conn), false);
  assertEquals([conn.closed, failures], [true, ["timed out"]]);
});

Deno.test("Handshakes at the cap drops the oldest handshake, not the newcomer", async () => {
  const { pool, failures, run } = handshakes({ max: 2 });
  const [a, b, c] = [new FakeTlsConn(), new FakeTlsConn(), new FakeTlsConn()];
  const ran = [run(a), run(b)];
  const newest = run(c);
  assertEquals(await ran[0], false);
  assertEquals([a.closed, b.closed, c.closed, failures, pool.size], [true, false, false, [
    "dropped",
  ], 2]);
  b.finish();
  c.finish();
  assertEquals([await ran[1], await newest], [true, true]);
});

Deno.test("Handshakes.closeAll closes every handshake in progress (shutdown)", async () => {
  const { failures, run, pool } = handshakes();
  const conns = [new FakeTlsConn(), new FakeTlsConn()];
  const ran = conns.map(run);
  pool.closeAll();
  assertEquals(await Promise.all(ran), [false, false]);
  assertEquals([conns.every((c) => c.closed), failures.length, pool.size], [true, 2, 0]);
});
