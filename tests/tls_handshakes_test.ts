/**
 * Unit tests of Handshakes (lib/server/door/tls_port.ts): the deadline, the
 * cap, and what is reported — the bookkeeping only. That the socket really
 * closes is tests/faults/tls_peers_test.ts, with real sockets.
 */
import { assertEquals } from "@std/assert";
import { type HandshakeFailure, Handshakes } from "../lib/server/door/tls_port.ts";

const REMOTE: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };

function handshakes(options: { timeoutMs?: number; max?: number } = {}) {
  const failures: HandshakeFailure[] = [];
  const pool = new Handshakes({
    timeoutMs: options.timeoutMs ?? 0,
    ...(options.max === undefined ? {} : { max: options.max }),
    onFailure: (why) => failures.push(why),
  });
  /** Starts one handshake; `aborted` says whether its socket was closed. */
  const start = () => {
    const socket = { aborted: 0 };
    const handshake = pool.start(REMOTE, () => socket.aborted++);
    return { socket, handshake };
  };
  return { pool, failures, start };
}

Deno.test("Handshakes: a finished handshake counts, leaves its socket open and frees its place", () => {
  const { pool, failures, start } = handshakes({ timeoutMs: 10_000 });
  const { socket, handshake } = start();
  assertEquals(pool.size, 1);
  assertEquals(handshake.finished(), true);
  assertEquals([socket.aborted, failures, pool.size], [0, [], 0]);
});

Deno.test("Handshakes closes a handshake that misses its deadline, reports it timed out, once", async () => {
  const { failures, start } = handshakes({ timeoutMs: 20 });
  const { socket, handshake } = start();
  const deadline = Date.now() + 5000;
  while (failures.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  // What the closed socket reports afterwards is not counted again, and it no longer counts.
  handshake.failed(new Error("closed"));
  assertEquals([socket.aborted, failures, handshake.finished()], [1, ["timed out"], false]);
});

Deno.test("Handshakes at the cap drops the oldest handshake, not the newcomer", () => {
  const { pool, failures, start } = handshakes({ max: 2 });
  const [a, b, c] = [start(), start(), start()];
  assertEquals([a.socket.aborted, b.socket.aborted, c.socket.aborted], [1, 0, 0]);
  assertEquals([failures, pool.size], [["dropped"], 2]);
  assertEquals([a.handshake.finished(), b.handshake.finished(), c.handshake.finished()], [
    false,
    true,
    true,
  ]);
});

Deno.test("Handshakes reports a failed handshake once and closes its socket", () => {
  const { failures, start, pool } = handshakes();
  const { socket, handshake } = start();
  handshake.failed(new Error("bad record"));
  handshake.failed(new Error("closed"));
  assertEquals([socket.aborted, failures, pool.size], [1, ["failed"], 0]);
});

Deno.test("Handshakes.closeAll closes every handshake in progress (shutdown)", () => {
  const { failures, start, pool } = handshakes();
  const started = [start(), start()];
  pool.closeAll();
  assertEquals(started.map((s) => s.socket.aborted), [1, 1]);
  assertEquals([failures.length, pool.size], [2, 0]);
});
