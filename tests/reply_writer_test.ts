/** Unit tests of the write path: short writes and coalescing, on a fake sink. */
import { assertEquals } from "@std/assert";
import fc from "fast-check";
import { dataLines, err, ok } from "../lib/protocol/mod.ts";
import { ReplyWriter } from "../lib/server/connection/reply_writer.ts";

const decoder = new TextDecoder();

/** A sink that accepts at most `limits[i]` bytes on its i-th write (cycling). */
function shortWriteSink(limits: number[]) {
  const writes: number[] = [];
  const received: number[] = [];
  let call = 0;
  return {
    writes,
    text: () => decoder.decode(new Uint8Array(received)),
    write(p: Uint8Array): Promise<number> {
      const n = Math.min(p.length, limits[call++ % limits.length]!);
      received.push(...p.subarray(0, n));
      writes.push(n);
      return Promise.resolve(n);
    },
  };
}

Deno.test("ReplyWriter continues after short writes and loses no byte", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.stringMatching(/^[a-z ]{0,20}$/), { maxLength: 10 }),
      async (limits, texts) => {
        const sink = shortWriteSink(limits);
        const out = new ReplyWriter(sink);
        for (const text of texts) out.addLine(ok(text));
        await out.flush();
        assertEquals(sink.text(), texts.map((t) => `OK ${t}\n`).join(""));
        assertEquals(out.bytesWritten, sink.writes.reduce((a, b) => a + b, 0));
      },
    ),
  );
});

Deno.test("ReplyWriter sends replies that are ready together in one write", async () => {
  const sink = shortWriteSink([1 << 30]);
  const out = new ReplyWriter(sink);
  out.addLine(ok("PONG"));
  out.addLine(err("bad-args", "nope"));
  out.addLine(dataLines(["x"]));
  await out.flush();
  assertEquals(sink.writes.length, 1);
  assertEquals(sink.text(), "OK PONG\nERR bad-args nope\nDATA 2\nx\n\n");
  await out.flush();
  assertEquals(sink.writes.length, 1, "an empty flush writes nothing");
});

Deno.test("ReplyWriter writes a large DATA body without losing order", async () => {
  const sink = shortWriteSink([1000]);
  const out = new ReplyWriter(sink);
  const big = "y".repeat(100_000);
  out.addLine(ok("first"));
  await out.add(dataLines([big]));
  out.addLine(ok("last"));
  await out.flush();
  assertEquals(sink.text(), `OK first\nDATA 100001\n${big}\n\nOK last\n`);
});

Deno.test("a single write that comes up short keeps the rest for flush, in order", async () => {
  const sink = shortWriteSink([3, 100, 100]);
  const out = new ReplyWriter(sink);
  out.addLine(ok("PONG"));
  out.addLine(ok("5"));
  assertEquals(out.wrote(await out.writeOnce()), false, "3 of 13 bytes written");
  assertEquals(out.pending, 10);
  assertEquals(out.writing, false);
  await out.flush();
  assertEquals(sink.text(), "OK PONG\nOK 5\n");
  assertEquals(out.bytesWritten, 13);
  out.addLine(ok("again"));
  assertEquals(out.wrote(await out.writeOnce()), true);
  assertEquals(out.pending, 0);
  assertEquals(sink.text(), "OK PONG\nOK 5\nOK again\n");
});

Deno.test("a write that fails leaves no write marked in flight", async () => {
  const out = new ReplyWriter({
    write: () => Promise.reject(new Deno.errors.ConnectionReset("gone")),
  });
  out.addLine(ok("PONG"));
  const write = out.writeOnce();
  assertEquals(out.writing, true);
  await write.catch(() => out.writeFailed());
  assertEquals(out.writing, false);
});

Deno.test("replies of the same length, one writeOnce each, each go out as they are", async () => {
  const sink = shortWriteSink([100]);
  const out = new ReplyWriter(sink);
  for (const text of ["PONG", "ABCD", "PONG", "A", "WXYZ"]) {
    out.addLine(ok(text));
    assertEquals(out.wrote(await out.writeOnce()), true);
  }
  assertEquals(sink.text(), "OK PONG\nOK ABCD\nOK PONG\nOK A\nOK WXYZ\n");
  assertEquals(sink.writes, [8, 8, 8, 5, 8]);
});
