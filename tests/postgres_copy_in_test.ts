/**
 * The pieces of an upload as PostgreSQL stores them (lib/stores/postgres/copy_in.ts,
 * docs/several-servers.md#the-shared-store), against a real private cluster: written straight
 * to the connection's socket or through the driver, with piece buffers used
 * again by later uploads, every upload's rows hold exactly its own bytes.
 */
import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import { CopyIn, PieceBuffers } from "../lib/stores/postgres/copy_in.ts";
import { PostgresDatabase } from "../lib/stores/postgres/database.ts";
import { parseStoreUrl } from "../lib/stores/postgres/url.ts";
import { Logger } from "../lib/server/log.ts";
import { PostgresCluster } from "./postgres.ts";
import { concat } from "./helpers.ts";

/** Small pieces, so that a few KiB cross many pieces and several COPYs (64 pieces each). */
const PIECE_BYTES = 100;

Deno.test("reused piece buffers never carry one upload's bytes into another's rows", async () => {
  await using cluster = await PostgresCluster.start();
  const database = await cluster.createDatabase();
  const db = PostgresDatabase.connect(parseStoreUrl(cluster.url(database)), {
    logger: new Logger({ level: "quiet" }),
    callTimeoutMs: 10_000,
  });
  await using _closed = { [Symbol.asyncDispose]: () => db.close() };
  await db.open();
  // One buffer kept: every piece after the first reuses a buffer that held other bytes.
  const buffers = new PieceBuffers(PIECE_BYTES, { keep: 1 });
  let upload = 0n;

  /** Stores `parts` as one upload (committed), straight or through the driver; its number. */
  const store = async (parts: Uint8Array[], straight: boolean): Promise<bigint> => {
    const connection = await db.reserve();
    try {
      const socket = await db.socketOf(connection);
      assert(socket !== undefined, "the reserved connection's socket is one of the pool's");
      await connection`BEGIN`;
      const sending = new CopyIn(db, connection, ++upload, {
        buffers,
        socket: straight ? socket : undefined,
      });
      for (const part of parts) await sending.add(part);
      await sending.end();
      await connection`COMMIT`;
      return upload;
    } finally {
      connection.release();
    }
  };
  /** The upload's bytes, its pieces in order, and their sequence numbers. */
  const stored = (id: bigint) =>
    cluster.query(async (sql) => {
      const rows = await sql`
        SELECT seq, data FROM switchboard_chunks WHERE upload = ${String(id)}::bigint ORDER BY seq`;
      const pieces = rows.map((row) => row.data as Uint8Array);
      return {
        bytes: concat(...pieces),
        seqs: rows.map((row) => Number(row.seq)),
        sizes: pieces.map((piece) => piece.length),
      };
    }, database);

  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 2_500 }), { minLength: 1, maxLength: 8 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 255 }),
      async (parts, straight, fill) => {
        // Bytes of another value everywhere in the kept buffer, as an earlier upload would leave.
        const dirty = new Uint8Array(PIECE_BYTES).fill(fill);
        const before = await store([dirty, dirty.subarray(0, PIECE_BYTES - 1)], straight);
        assertEquals((await stored(before)).sizes, [PIECE_BYTES, PIECE_BYTES - 1]);
        const id = await store(parts, !straight);
        const expected = concat(...parts);
        const got = await stored(id);
        assertEquals(got.bytes, expected);
        const pieces = Math.ceil(expected.length / PIECE_BYTES);
        assertEquals(got.seqs, Array.from({ length: pieces }, (_, i) => i));
        assertEquals(
          got.sizes,
          Array.from(
            { length: pieces },
            (_, i) => Math.min(PIECE_BYTES, expected.length - i * PIECE_BYTES),
          ),
        );
      },
    ),
    { numRuns: 25 },
  );
  // Every piece went back: at most the one kept buffer waits.
  assertEquals(buffers.idle, 1);
});
