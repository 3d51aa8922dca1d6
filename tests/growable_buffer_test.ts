/**
 * Memory a long line or a large reply took goes back to the system
 * (docs/server.md#what-a-client-cannot-do-to-the-server): past its first size a
 * buffer grows in place in pages of its own, and those pages are given back
 * (the ArrayBuffer shrinks to 0 bytes) as soon as the line is consumed or the
 * connection ends, not kept by the C allocator.
 */
import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import { FrameBuffer, INITIAL_BUFFER_BYTES, ok } from "../lib/protocol/mod.ts";
import { ReplyWriter } from "../lib/server/connection/reply_writer.ts";
import { BufferPool } from "../lib/server/connection/buffer_pool.ts";

const encoder = new TextEncoder();
const MAX_LINE = 65_536;

/** Feeds `bytes` through spare()/commit() in reads of at most 2,048 bytes, as the server reads. */
function feed(frame: FrameBuffer, bytes: Uint8Array): ArrayBufferLike[] {
  const seen: ArrayBufferLike[] = [];
  for (let off = 0; off < bytes.length;) {
    const room = frame.spare(2048);
    if (!seen.includes(room.buffer)) seen.push(room.buffer);
    const n = Math.min(room.length, bytes.length - off, 2048);
    room.set(bytes.subarray(off, off + n));
    frame.commit(n);
    off += n;
  }
  return seen;
}

Deno.test("a 60 KB line grows one buffer in place, and its pages go back once the line is consumed", () => {
  const pool = new BufferPool(INITIAL_BUFFER_BYTES, 4);
  const frame = new FrameBuffer(MAX_LINE, { initialSize: INITIAL_BUFFER_BYTES, pool });
  const buffers = feed(frame, encoder.encode("ECHO " + "x".repeat(60_000)));
  assertEquals(frame.nextLine(), null, "no LF yet: a partial line");
  // The pooled first buffer, then one growable buffer for the rest of the line.
  assertEquals(buffers.length, 2);
  const grown = buffers[1] as ArrayBuffer;
  assert(grown.resizable, "grown in place");
  assertEquals(frame.capacity, 65_536, "the line and one read fit");
  feed(frame, encoder.encode("\n"));
  assertEquals(frame.nextLine()?.length, 60_005);
  assertEquals(frame.nextLine(), null);
  assertEquals(grown.byteLength, 65_536, "kept while the line may still be in use");
  frame.spare(2048);
  assertEquals(grown.byteLength, 0, "its pages are given back at the next read");
  assertEquals(frame.capacity, INITIAL_BUFFER_BYTES, "a first-size buffer again");
});

Deno.test("10,000 connections that each held 60 KB of an unfinished line give every page back when they close", () => {
  const grown: ArrayBuffer[] = [];
  for (let i = 0; i < 10_000; i++) {
    const frame = new FrameBuffer(MAX_LINE, { initialSize: INITIAL_BUFFER_BYTES });
    const buffers = feed(frame, encoder.encode("x".repeat(60_000)));
    grown.push(buffers.at(-1) as ArrayBuffer);
    frame.release();
  }
  assertEquals(grown.filter((b) => b.resizable).length, 10_000);
  assertEquals(grown.reduce((bytes, b) => bytes + b.byteLength, 0), 0, "bytes still committed");
});

Deno.test("a reply writer grown by a large reply gives its pages back once the reply is written", async () => {
  let bytes = 0;
  const buffers: ArrayBufferLike[] = [];
  const writer = new ReplyWriter({
    write(p) {
      bytes += p.length;
      buffers.push(p.buffer);
      return Promise.resolve(p.length);
    },
  });
  writer.addLine(ok("y".repeat(300_000)));
  await writer.flush();
  assertEquals(bytes, 300_004);
  const buffer = buffers[0]!;
  assert(buffer instanceof ArrayBuffer && buffer.resizable, "grown in place");
  assertEquals(buffer.byteLength, 0, "given back after the write");
  writer.addLine(ok("small"));
  assertStrictEquals(writer.pending, 9);
});
