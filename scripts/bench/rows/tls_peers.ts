/**
 * TLSPEERS (docs/server.md#what-a-client-cannot-do-to-the-server; one of
 * the fault rows beside FAULTS): the TLS port under a low descriptor limit
 * (`prlimit --nofile=1024`) takes waves of peers that connect and say
 * nothing, or send half a ClientHello, more of them than it has
 * descriptors. Each wave must be disconnected by the handshake deadline
 * (`--request-timeout 2`: every peer sees the close), the server's
 * descriptors must come back, and a real TLS client must be served after
 * every wave. Before the TLS port ran its handshakes over connections it
 * can close, such peers held every descriptor until they left.
 */
import { delay } from "@std/async/delay";
import { HALF_CLIENT_HELLO, makeTlsFixture, tlsServerArgs } from "../../../tests/tls_fixtures.ts";
import { writeAll } from "../../../lib/io.ts";
import { type BenchContext, progress, startServer } from "../context.ts";
import { type BenchRow, count, millis, type Row } from "../row.ts";
import { output } from "../system.ts";

const DESCRIPTOR_LIMIT = 1024;
const HANDSHAKE_DEADLINE_S = 2;
const WAVES = 3;
const QUICK_WAVES = 1;
/** Peers of one wave: more than the server's descriptors, so the limit is really reached. */
const SILENT_PER_WAVE = 1200;
const HALF_HELLO_PER_WAVE = 300;
/** After the deadline: time for the last closes to reach the peers. */
const CLOSE_MARGIN_MS = 2000;
/** How long after the peers saw their close the server's descriptors may take to come back. */
const BACK_WITHIN_MS = HANDSHAKE_DEADLINE_S * 1000 + 2000;
/** Descriptors above the server's start that still count as "back". */
const DESCRIPTOR_SLACK = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How many descriptors `pid` has open (ls: Deno reads no /proc without --allow-all). */
async function openDescriptors(pid: number): Promise<number> {
  return (await output("ls", [`/proc/${pid}/fd`])).out.split("\n").filter((l) => l !== "").length;
}

/** A wave's peer: resolves when it sees the server close (end of input or a reset). */
async function peer(port: number, first: Uint8Array | undefined): Promise<Deno.TcpConn | null> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    if (first !== undefined) await writeAll(conn, first).catch(() => {});
    return conn;
  } catch {
    return null; // refused or reset while the server paused accepting: counted as not opened
  }
}

/** Whether `conn` sees its close within `ms`. */
async function seesClose(conn: Deno.TcpConn, ms: number): Promise<boolean> {
  const buffer = new Uint8Array(1024);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while (await conn.read(buffer) !== null) { /* a TLS alert, if any */ }
    return true;
  } catch (error) {
    return !(error instanceof Deno.errors.BadResource); // closed by our timer: not seen
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Milliseconds a TLS client takes to connect, handshake and get PING answered. */
async function tlsPing(port: number, caCert: string): Promise<number> {
  const started = performance.now();
  const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [caCert] });
  try {
    await writeAll(conn, encoder.encode("PING\n"));
    const buffer = new Uint8Array(64);
    let text = "";
    while (!text.includes("\n")) {
      const got = await conn.read(buffer);
      if (got === null) throw new Error(`closed after ${JSON.stringify(text)}`);
      text += decoder.decode(buffer.subarray(0, got));
    }
    if (!text.startsWith("OK PONG")) throw new Error(`PING answered ${JSON.stringify(text)}`);
    return performance.now() - started;
  } finally {
    conn.close();
  }
}

/** TLSPEERS: silent and half-hello TLS peers past the descriptor limit. */
export const TLSPEERS: BenchRow = {
  id: "TLSPEERS",
  about: `TLS port under --nofile=${DESCRIPTOR_LIMIT}: waves of silent and half-hello peers`,
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    await using fixture = await makeTlsFixture();
    await using server = await startServer(context, "switchboard", {
      args: [...tlsServerArgs(fixture), "--request-timeout", String(HANDSHAKE_DEADLINE_S)],
      wrap: ["prlimit", `--nofile=${DESCRIPTOR_LIMIT}:${DESCRIPTOR_LIMIT}`],
    });
    const baseline = await openDescriptors(server.pid);
    const waves = context.options.quick ? QUICK_WAVES : WAVES;
    let opened = 0;
    let closed = 0;
    let worstBack = 0;
    const pings: number[] = [];
    for (let wave = 1; wave <= waves; wave++) {
      progress(`TLS peers: wave ${wave}/${waves}`);
      const conns = (await Promise.all([
        ...Array.from({ length: SILENT_PER_WAVE }, () => peer(server.port, undefined)),
        ...Array.from({ length: HALF_HELLO_PER_WAVE }, () => peer(server.port, HALF_CLIENT_HELLO)),
      ])).filter((conn): conn is Deno.TcpConn => conn !== null);
      opened += conns.length;
      const seen = await Promise.all(
        conns.map((conn) => seesClose(conn, HANDSHAKE_DEADLINE_S * 1000 + CLOSE_MARGIN_MS)),
      );
      closed += seen.filter((saw) => saw).length;
      // The server's side: connections still in the accept queue are taken and closed in turn.
      const since = performance.now();
      let left = await openDescriptors(server.pid) - baseline;
      while (left > DESCRIPTOR_SLACK && performance.now() - since < BACK_WITHIN_MS) {
        await delay(100);
        left = await openDescriptors(server.pid) - baseline;
      }
      worstBack = Math.max(worstBack, left);
      pings.push(await tlsPing(server.port, fixture.caCertPem));
    }
    const allClosed = closed === opened;
    const back = worstBack <= DESCRIPTOR_SLACK;
    return {
      scenario:
        `TLS port, --nofile=${DESCRIPTOR_LIMIT}, --request-timeout ${HANDSHAKE_DEADLINE_S}: ` +
        `${waves} × (${count(SILENT_PER_WAVE)} silent + ${HALF_HELLO_PER_WAVE} half-hello peers)`,
      switchboard: `${count(closed)} of ${count(opened)} peers saw the close by the deadline; ` +
        `descriptors back within ${BACK_WITHIN_MS / 1000} s of each wave: ${
          back ? "yes" : `no, start + ${worstBack}`
        }; TLS PING after each wave: max ${millis(Math.max(...pings) * 1000)}`,
      deno: "",
      node: "",
      ratio: "",
      target: "every peer closed by the deadline, descriptors back, TLS served after each wave",
      met: allClosed && back && pings.length === waves,
    };
  },
};
