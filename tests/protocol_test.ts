/** Unit tests of the protocol module: framing, tokenizer, replies — on bytes, no sockets. */
import { assertEquals, assertLessOrEqual, assertRejects, assertThrows } from "@std/assert";
import fc from "fast-check";
import { escapeControl, hasControlCharacter } from "../lib/escape.ts";
import {
  commandWordOf,
  decodeLine,
  encodeReply,
  FrameBuffer,
  keyword,
  ProtocolError,
  quoteWord,
  ReplyReader,
  Request,
  tokenize,
} from "../lib/protocol/mod.ts";
import { dataLines, err, ok } from "../lib/protocol/mod.ts";
import { concat } from "./helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Feeds `chunks` one after another; collects lines (as text) or the error code that stopped it. */
function frame(chunks: Uint8Array[], maxLine: number): { lines: string[]; error?: string } {
  const buffer = new FrameBuffer(maxLine);
  const lines: string[] = [];
  try {
    for (const chunk of chunks) {
      buffer.push(chunk);
      for (let line = buffer.nextLine(); line !== null; line = buffer.nextLine()) {
        lines.push(decoder.decode(line));
      }
    }
  } catch (error) {
    if (error instanceof ProtocolError) return { lines, error: error.code };
    throw error;
  }
  return { lines };
}

/** Splits `bytes` at the given cut points. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(last, p));
    last = p;
  }
  chunks.push(bytes.subarray(last));
  return chunks;
}

Deno.test("FrameBuffer yields the same lines however the stream is split", () => {
  const line = fc.stringMatching(/^[a-zA-Z0-9 \t"\\\r]{0,40}$/);
  fc.assert(
    fc.property(
      fc.array(line, { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (ls, cuts) => {
        const bytes = encoder.encode(ls.map((l) => l + "\n").join(""));
        const whole = frame([bytes], 1000);
        const pieces = frame(split(bytes, cuts), 1000);
        assertEquals(pieces, whole);
        // One CR right before the LF is dropped; any other CR is kept.
        assertEquals(whole.lines, ls.map((l) => l.endsWith("\r") ? l.slice(0, -1) : l));
      },
    ),
  );
});

Deno.test("FrameBuffer memory stays bounded by max-line whatever arrives", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 300 }),
      // Runs without a LF of up to 2000 bytes, so lines over the limit are common.
      fc.array(fc.uint8Array({ min: 11, maxLength: 2000, size: "max" }), { maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 50 }),
      (maxLine, runs, cuts) => {
        const bytes = encoder.encode(runs.map((r) => decoder.decode(r)).join("\n"));
        const buffer = new FrameBuffer(maxLine);
        let peak = 0;
        try {
          for (const chunk of split(bytes, cuts)) {
            for (let off = 0; off < chunk.length;) {
              const room = buffer.spare(64);
              const n = Math.min(room.length, chunk.length - off, 64);
              room.set(chunk.subarray(off, off + n));
              buffer.commit(n);
              off += n;
              while (buffer.nextLine() !== null) { /* consume */ }
              peak = Math.max(peak, buffer.buffered);
            }
          }
        } catch (error) {
          if (!(error instanceof ProtocolError) || error.code !== "line-too-long") throw error;
        }
        // At most one partial line (maxLine + CR) plus one read of 64 bytes is ever held.
        assertLessOrEqual(peak, maxLine + 1 + 64, `peak ${peak} with maxLine ${maxLine}`);
        assertLessOrEqual(buffer.capacity, Math.max(4096, 2 * (maxLine + 2 + 64)));
      },
    ),
  );
});

Deno.test("FrameBuffer refuses a line longer than max-line even without a LF", () => {
  const buffer = new FrameBuffer(10);
  buffer.push(encoder.encode("0123456789")); // exactly the limit: fine so far
  assertEquals(buffer.nextLine(), null);
  buffer.push(encoder.encode("\r")); // a CR may still be followed by LF
  assertEquals(buffer.nextLine(), null);
  buffer.push(encoder.encode("\n"));
  assertEquals(decoder.decode(buffer.nextLine()!), "0123456789");
  buffer.push(encoder.encode("0123456789ab"));
  const error = assertThrows(() => buffer.nextLine(), ProtocolError);
  assertEquals(error.code, "line-too-long");
  assertEquals(error.fatal, true);
});

Deno.test("FrameBuffer counts max-line without the CR", () => {
  const buffer = new FrameBuffer(3);
  buffer.push(encoder.encode("abc\r\nabcd\n"));
  assertEquals(decoder.decode(buffer.nextLine()!), "abc");
  assertThrows(() => buffer.nextLine(), ProtocolError, "exceeds 3 bytes");
});

Deno.test("FrameBuffer hands out raw payload bytes between lines", () => {
  const buffer = new FrameBuffer(100);
  buffer.push(encoder.encode("PUT 5\nhelloPING\n"));
  assertEquals(decoder.decode(buffer.nextLine()!), "PUT 5");
  assertEquals(decoder.decode(buffer.take(3)!), "hel");
  assertEquals(decoder.decode(buffer.take(2)!), "lo");
  assertEquals(decoder.decode(buffer.nextLine()!), "PING");
  assertEquals(buffer.take(1), null);
});

Deno.test("decodeLine refuses NUL bytes and invalid UTF-8, keeps the rest byte-exact", () => {
  assertEquals(decodeLine(encoder.encode("héllo ☎ \u{1F600}")), "héllo ☎ \u{1F600}");
  assertThrows(() => decodeLine(new Uint8Array([0x50, 0x00, 0x51])), ProtocolError, "NUL");
  assertThrows(() => decodeLine(new Uint8Array([0x50, 0xff, 0x51])), ProtocolError, "UTF-8");
  assertThrows(() => decodeLine(new Uint8Array([0xc3])), ProtocolError, "UTF-8");
});

Deno.test("decodeLine reads ASCII lines of every length the same, whichever way it builds them", () => {
  for (const length of [0, 1, 4, 12, 13, 64, 128, 129, 300]) {
    const text = Array.from({ length }, (_, i) => String.fromCharCode(33 + (i * 7) % 94)).join("");
    assertEquals(decodeLine(encoder.encode(text)), text, `${length} bytes`);
  }
  assertThrows(() => decodeLine(new Uint8Array([0x50, 0x49, 0x00, 0x4e])), ProtocolError, "NUL");
});

Deno.test("tokenize splits on spaces and tabs and honours quotes and escapes", () => {
  assertEquals(tokenize('HELLO  "Ada Lovelace"\ts1\t gh'), ["HELLO", "Ada Lovelace", "s1", "gh"]);
  assertEquals(tokenize(String.raw`"a \"quoted\" \\ word" ""`), [
    String.raw`a "quoted" \ word`,
    "",
  ]);
  assertEquals(tokenize('plain"quote inside'), ['plain"quote', "inside"]);
  assertEquals(tokenize("   "), []);
});

Deno.test("tokenize reports unbalanced quotes and bad escapes as bad-request", () => {
  for (const line of ['"open', 'a "b', String.raw`"bad \n escape"`, '"x"y', '"ends\\']) {
    const error = assertThrows(() => tokenize(line), ProtocolError);
    assertEquals(error.code, "bad-request", line);
  }
});

Deno.test("quoteWord output reads back as the same single word", () => {
  fc.assert(fc.property(fc.string({ maxLength: 30 }), (text) => {
    assertEquals(tokenize(quoteWord(text)), [text]);
    assertEquals(tokenize(`${quoteWord(text)} ${quoteWord(text)}`), [text, text]);
  }));
});

Deno.test("Request takes the rest of the line byte-exact after exactly one separator", () => {
  assertEquals(new Request("ECHO  two  spaces ").rest(), " two  spaces ");
  assertEquals(new Request('ECHO\t"quotes" stay').rest(), '"quotes" stay');
  assertEquals(new Request("ECHO").rest(), undefined);
  assertEquals(new Request("ECHO ").rest(), "");
  assertEquals(new Request('kv set key  value "x').rest(2), ' value "x');
  assertEquals(new Request("kv set key").rest(2), undefined);
  assertEquals(new Request("ping").command, "PING");
});

Deno.test("keywords fold ASCII case only: a word with any non-ASCII letter is no keyword", () => {
  assertEquals(keyword("file"), "FILE");
  assertEquals(keyword("FiLe"), "FILE");
  assertEquals(keyword("FILE"), "FILE");
  assertEquals(keyword("az{`@AZ"), "AZ{`@AZ", "only a-z fold");
  assertEquals(keyword("+"), "+");
  // Unicode upper-casing makes these FILE, FILE, SET, LIST and STOP; ASCII folding makes them nothing.
  for (
    const word of ["f\u0131le", "\ufb01le", "\u017fet", "l\u0131\ufb06", "\ufb05op", "\u212aV"]
  ) {
    assertEquals(keyword(word), "", word);
    assertEquals(new Request(`${word} PUT a 5`).command, "", word);
  }
  assertEquals(
    new Request("f\u0131le PUT a 5").word,
    "f\u0131le",
    "the spelling is kept for errors",
  );
});

Deno.test("commandWordOf reads the command word of a line as Request does", () => {
  const lines = [
    "file PUT a 5",
    "  \tFiLe PUT a 5",
    '"FILE" PUT a 5',
    "f\u0131le PUT a 5",
    "\ufb01le PUT a 5",
    "FILE\u0131 PUT a 5",
    "FILE1 PUT a 5",
    "kv SET k v",
  ];
  for (const line of lines) {
    assertEquals(commandWordOf(encoder.encode(line)), new Request(line).command, line);
  }
  const bad = (text: string) => concat(encoder.encode(text), new Uint8Array([0xff]));
  // The docs/protocol.md#commands repro: dotless ı and a bad byte after it; the line is not a FILE line.
  assertEquals(commandWordOf(bad("f\u0131le PUT a 5 ")), "");
  assertEquals(commandWordOf(bad("FILE PUT a 5 ")), "FILE");
  assertEquals(commandWordOf(bad('"file PUT a ')), "FILE");
  assertEquals(commandWordOf(bad("FILE")), "", "a bad byte in the word makes it no keyword");
});

Deno.test("control characters are C0, DEL and C1 (U+0080-U+009F), and only those", () => {
  for (const c of ["\u0000", "\u001b", "\u007f", "\u0080", "\u0085", "\u009b", "\u009f"]) {
    assertEquals(hasControlCharacter(`a${c}b`), true, escapeControl(c));
    assertEquals(escapeControl(c).startsWith("\\x"), true, "and are escaped when shown");
  }
  for (const text of ["plain", "\u00a0nbsp", "\u00e9", "\u2028", "\u{1F600}", ""]) {
    assertEquals(hasControlCharacter(text), false, text);
  }
});

Deno.test("replies encode in the three shapes and read back through ReplyReader", async () => {
  const replies = [
    ok(),
    ok("PONG"),
    err("bad-args", "CALC takes <op> <a> <b>, got 1 argument"),
    dataLines(["a", "b"]),
    dataLines([]),
  ];
  const bytes = new Uint8Array(replies.flatMap((r) => [...encodeReply(r)]));
  assertEquals(
    decoder.decode(bytes),
    "OK\nOK PONG\nERR bad-args CALC takes <op> <a> <b>, got 1 argument\nDATA 4\na\nb\n\nDATA 0\n\n",
  );
  let offset = 0;
  const reader = new ReplyReader({
    read(p) {
      if (offset >= bytes.length) return Promise.resolve(null);
      p[0] = bytes[offset++]!; // one byte at a time: the worst case for framing
      return Promise.resolve(1);
    },
  });
  assertEquals(await reader.read(), { kind: "ok" });
  assertEquals(await reader.read(), { kind: "ok", text: "PONG" });
  assertEquals(await reader.read(), {
    kind: "err",
    code: "bad-args",
    message: "CALC takes <op> <a> <b>, got 1 argument",
  });
  assertEquals(await reader.read(), { kind: "data", body: encoder.encode("a\nb\n") });
  assertEquals(await reader.read(), { kind: "data", body: new Uint8Array(0) });
});

Deno.test("a line read where the one before was holds its own bytes", () => {
  const frame = new FrameBuffer(64);
  const lines: string[] = [];
  for (const input of ["PING\n", "PONG\n", "PIN\n", "\n", "\r\n", "ABCD\nWXYZ\n", "KLMN\n"]) {
    frame.push(encoder.encode(input));
    for (let line = frame.nextLine(); line !== null; line = frame.nextLine()) {
      lines.push(decoder.decode(line));
    }
  }
  assertEquals(lines, ["PING", "PONG", "PIN", "", "", "ABCD", "WXYZ", "KLMN"]);
});

Deno.test("a reply line that never ends is refused in the client's words, not the server's --max-line", async () => {
  let reads = 0;
  const reader = new ReplyReader({
    read(p) {
      reads++;
      p.fill(0x78);
      return Promise.resolve(p.length);
    },
  });
  const error = await assertRejects(() => reader.readLine(), ProtocolError);
  assertEquals(error.code, "line-too-long");
  assertEquals(
    error.message,
    "a reply line over 16777216 bytes: not a switchboard server, or a broken one",
  );
  assertLessOrEqual(reads, 1_000, "it stops reading at the limit");
});
