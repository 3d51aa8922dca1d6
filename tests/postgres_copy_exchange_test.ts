/**
 * The reading of a COPY straight from a connection's socket
 * (lib/stores/postgres/copy_exchange.ts, docs/several-servers.md#the-shared-store), on a fake
 * socket (logic only; tests/e2e_postgres_test.ts reads real ones): PostgreSQL's messages split
 * anywhere across reads give exactly the COPY's data, its error, and the bytes after
 * ReadyForQuery go to the driver, which gets the socket back.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import fc from "fast-check";
import postgres from "postgres";
import { CopyExchange } from "../lib/stores/postgres/copy_exchange.ts";
import { concat } from "./helpers.ts";

const encoder = new TextEncoder();

/** What the exchange uses of a socket; `written` keeps what it sent. */
class FakeSocket extends EventEmitter {
  written: Uint8Array[] = [];
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  write(bytes: Uint8Array): boolean {
    this.written.push(bytes);
    return true;
  }
}

/** One message: its type, its length (counting itself), its body. */
function message(type: string, body: Uint8Array = new Uint8Array()): Uint8Array {
  const head = new Uint8Array(5);
  head[0] = type.charCodeAt(0);
  new DataView(head.buffer).setInt32(1, 4 + body.length);
  return concat(head, body);
}

/** `bytes` cut at `cuts` (positions, any order, any repeats). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((x, y) => x - y);
  return [0, ...at].map((from, i) => bytes.subarray(from, [...at, bytes.length][i]));
}

/** Sends `chunks` through a fresh exchange; the data it gave, and what the driver's listener got after. */
async function exchange(chunks: Uint8Array[], options: { dropAfter?: number } = {}) {
  const socket = new FakeSocket();
  const handedBack: Uint8Array[] = [];
  const driver = (chunk: Uint8Array) => handedBack.push(chunk);
  socket.on("data", driver);
  const copy = new CopyExchange(socket as unknown as Socket, "COPY x TO STDOUT");
  const data: Uint8Array[] = [];
  let failed: unknown;
  chunks.forEach((chunk, i) => {
    socket.emit("data", chunk);
    if (i === options.dropAfter) copy.drop();
  });
  if (options.dropAfter === undefined) {
    try {
      for (let part = await copy.next(); part !== null; part = await copy.next()) data.push(part);
    } catch (error) {
      failed = error;
    }
  }
  return {
    data: concat(...data),
    failed,
    handedBack: concat(...handedBack),
    listeners: socket.listeners("data"),
    driver,
    query: concat(...socket.written),
  };
}

const copyOut = message("H", new Uint8Array([1, 0, 1, 0, 1]));
const done = concat(message("c"), message("C", encoder.encode("COPY 3\0")));
const ready = message("Z", encoder.encode("T"));

Deno.test("a COPY split anywhere gives its data whole and the bytes after it to the driver", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      async (payloads, after, cuts) => {
        const notice = message("N", encoder.encode("SNOTICE\0Mhello\0\0"));
        const wire = concat(
          copyOut,
          ...payloads.map((payload) => message("d", payload)),
          notice,
          done,
          ready,
          after,
        );
        const got = await exchange(split(wire, cuts));
        assertEquals(got.failed, undefined);
        assertEquals(got.data, concat(...payloads));
        assertEquals(got.handedBack, after);
        assertEquals(got.listeners, [got.driver]);
      },
    ),
  );
});

Deno.test("a COPY's ErrorResponse is thrown as the driver's PostgresError, after the data before it", async () => {
  const error = message("E", encoder.encode("SFATAL\0C57P01\0Mterminating connection\0\0"));
  const wire = concat(copyOut, message("d", encoder.encode("abc")), error, ready);
  for (const cuts of [[], [1, 9, 14, 20, 33], Array.from({ length: wire.length }, (_, i) => i)]) {
    const got = await exchange(split(wire, cuts));
    assertEquals(got.data, encoder.encode("abc"));
    if (!(got.failed instanceof postgres.PostgresError)) throw new Error(`got ${got.failed}`);
    assertEquals([got.failed.code, got.failed.message], ["57P01", "terminating connection"]);
    assertEquals(got.listeners, [got.driver]);
  }
});

Deno.test("a dropped COPY is read to its end and the socket goes back to the driver", async () => {
  const wire = concat(copyOut, message("d", new Uint8Array(500)), done, ready, encoder.encode("Z"));
  const got = await exchange(split(wire, [3, 200, 400]), { dropAfter: 1 });
  assertEquals(got.handedBack, encoder.encode("Z"));
  assertEquals(got.listeners, [got.driver]);
  // The query went out as one simple Query message.
  assertEquals(got.query, message("Q", encoder.encode("COPY x TO STDOUT\0")));
});

Deno.test("a socket closed mid-COPY is a lost connection", async () => {
  const socket = new FakeSocket();
  const copy = new CopyExchange(socket as unknown as Socket, "COPY x TO STDOUT");
  socket.emit("data", concat(copyOut, message("d", encoder.encode("ab")).subarray(0, 6)));
  socket.emit("close");
  assertEquals(await copy.next(), encoder.encode("a"));
  const error = await assertRejects(() => copy.next());
  assertEquals((error as { code?: string }).code, "CONNECTION_CLOSED");
});
