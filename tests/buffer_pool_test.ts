/** The pool of per-connection buffers, and the read and write paths that take from it and give back. */
import { assertEquals, assertNotStrictEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { BufferPool } from "../lib/server/connection/buffer_pool.ts";
import { FrameBuffer, INITIAL_BUFFER_BYTES, ok } from "../lib/protocol/mod.ts";
import { INITIAL_REPLY_BYTES, ReplyWriter } from "../lib/server/connection/reply_writer.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("a buffer given back is the next one taken, and an empty pool makes new ones", () => {
  const pool = new BufferPool(16, 4);
  const first = pool.take();
  assertEquals(first.length, 16);
  pool.give(first);
  assertEquals(pool.available, 1);
  assertStrictEquals(pool.take(), first);
  assertNotStrictEquals(pool.take(), first, "taken once, it is not handed out twice");
});

Deno.test("only whole buffers of the pool's size are kept, and at most the limit", () => {
  const pool = new BufferPool(16, 2);
  pool.give(new Uint8Array(32));
  pool.give(new Uint8Array(32).subarray(0, 16));
  pool.give(new Uint8Array(16).subarray(0, 8));
  assertEquals(pool.available, 0, "other sizes and views into other buffers are left alone");
  pool.give(new Uint8Array(16));
  pool.give(new Uint8Array(16));
  pool.give(new Uint8Array(16));
  assertEquals(pool.available, 2);
  assertThrows(() => new BufferPool(0, 1), RangeError);
  assertThrows(() => new BufferPool(16, -1), RangeError);
});

Deno.test("a FrameBuffer reads into a pooled buffer and gives it back on release", () => {
  const pool = new BufferPool(INITIAL_BUFFER_BYTES, 4);
  const kept = pool.take();
  kept.fill(0x78); // another client's old bytes
  pool.give(kept);
  const frame = new FrameBuffer(1000, { initialSize: INITIAL_BUFFER_BYTES, pool });
  const spare = frame.spare(64);
  assertStrictEquals(spare.buffer, kept.buffer, "the first buffer comes from the pool");
  const bytes = encoder.encode("PING\n");
  spare.set(bytes);
  frame.commit(bytes.length);
  assertEquals(decoder.decode(frame.nextLine()!), "PING", "old bytes are never read as input");
  assertEquals(frame.nextLine(), null);
  frame.release();
  assertEquals(pool.available, 1);
  assertEquals(frame.capacity, 0);
  assertEquals(frame.buffered, 0);
});

Deno.test("a FrameBuffer that grew for a long line gives nothing back", () => {
  const pool = new BufferPool(INITIAL_BUFFER_BYTES, 4);
  const frame = new FrameBuffer(100_000, { initialSize: INITIAL_BUFFER_BYTES, pool });
  frame.spare(INITIAL_BUFFER_BYTES * 4);
  frame.release();
  assertEquals(pool.available, 0);
});

Deno.test("a ReplyWriter writes from a pooled buffer and gives it back on release", async () => {
  const pool = new BufferPool(INITIAL_REPLY_BYTES, 4);
  const kept = pool.take();
  kept.fill(0x78);
  pool.give(kept);
  const written: string[] = [];
  const buffers: ArrayBufferLike[] = [];
  const writer = new ReplyWriter({
    write(p: Uint8Array): Promise<number> {
      written.push(decoder.decode(p));
      buffers.push(p.buffer);
      return Promise.resolve(p.length);
    },
  }, { pool });
  writer.addLine(ok("PONG"));
  await writer.flush();
  assertEquals(written, ["OK PONG\n"], "only the reply, none of the old bytes");
  assertStrictEquals(buffers[0], kept.buffer);
  writer.release();
  assertEquals(pool.available, 1);
  writer.addLine(ok("again"));
  await writer.flush();
  assertEquals(written[1], "OK again\n", "a released writer starts over with a buffer of its own");
});
