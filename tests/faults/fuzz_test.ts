/**
 * A seeded protocol fuzzer over TCP (docs/protocol.md#commands–docs/protocol.md#limits-and-bad-input): fast-check builds request
 * lines — every command with random arguments, quotes, escapes, tabs, CR,
 * NUL, invalid and overlong UTF-8, huge numbers, raw garbage — and each is
 * sent to a real server. Every non-blank line must get exactly one
 * well-formed reply (or a close that the protocol announces), the server
 * must never exit, and a bystander must keep being answered.
 */
import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import { ConnectionClosedError, type ParsedReply } from "../../lib/protocol/mod.ts";
import { concat, TestClient, TestServer } from "../helpers.ts";

const encoder = new TextEncoder();
const SEED = 20261201;
const RUNS = 400;

/** Every error code of docs/protocol.md#commands. */
const CODES = new Set([
  "bad-request",
  "unknown-command",
  "bad-args",
  "not-found",
  "bad-name",
  "too-large",
  "div-by-zero",
  "line-too-long",
  "busy",
  "timeout",
  "shutdown",
  "noauth",
  "denied",
  "no-space",
  "unavailable",
  "internal",
]);

/** Commands and subcommands, in random case; FILE PUT is left out (its payload would follow). */
const HEADS = [
  "HELP",
  "PING",
  "ECHO",
  "QUIT",
  "EXIT",
  "STOP",
  "HELLO",
  "WHO",
  "STATS",
  "AUTH",
  "CALC add",
  "CALC /",
  "CALC pow",
  "COUNT",
  "FILE LIST",
  "FILE GET",
  "FILE DEL",
  "FILE",
  "KV SET",
  "KV GET",
  "KV DEL",
  "KV INCR",
  "KV KEYS",
  "KV SCAN",
  "KV",
];

const bytes = (...values: number[]) => new Uint8Array(values);

/** One argument: words, numbers of any size, quotes and escapes, and bytes that are not text. */
const argument: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => encoder.encode(s.replaceAll("\n", " "))),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((n) => encoder.encode(String(n))),
  fc.integer({ min: 0, max: 20 }).map((n) => encoder.encode(String(n))),
  fc.constantFrom(
    encoder.encode('"quoted word"'),
    encoder.encode('"unbalanced'),
    encoder.encode('"bad \\q escape"'),
    encoder.encode('"esc\\"aped\\\\"'),
    encoder.encode('"x"y'),
    encoder.encode("AFTER"),
    encoder.encode("LIMIT"),
    encoder.encode("1e308"),
    encoder.encode("-0"),
    bytes(0),
    bytes(0xff, 0xfe),
    bytes(0xc0, 0x80), // overlong NUL
    bytes(0xed, 0xa0, 0x80), // a UTF-16 surrogate in UTF-8
    bytes(0xf5, 0x80, 0x80, 0x80),
    bytes(0x1b, 0x5b, 0x32, 0x4a),
    bytes(0x09),
  ),
);

const separator = fc.constantFrom(bytes(0x20), bytes(0x09), bytes(0x20, 0x20), bytes(0x20, 0x09));

/** A request line without its LF. */
const line: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(
      fc.constantFrom(...HEADS),
      fc.boolean(),
      fc.array(fc.tuple(separator, argument), { maxLength: 4 }),
      fc.boolean(),
    ).map(([head, lower, args, cr]) =>
      concat(
        encoder.encode(lower ? head.toLowerCase() : head),
        ...args.flat(),
        cr ? bytes(13) : bytes(),
      )
    ),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 80 }).map((raw) => raw.map((b) => b === 10 ? 32 : b)),
  },
);

/** No reply is owed: nothing but spaces and tabs once a final CR is dropped. */
function isBlank(raw: Uint8Array): boolean {
  const end = raw.at(-1) === 13 ? raw.length - 1 : raw.length;
  for (let i = 0; i < end; i++) if (raw[i] !== 32 && raw[i] !== 9) return false;
  return true;
}

/** Throws unless the reply is one of the three shapes with a known code. */
function assertWellFormed(reply: ParsedReply, sent: Uint8Array): void {
  if (reply.kind === "err") {
    assert(CODES.has(reply.code), `unknown code ${reply.code} for ${JSON.stringify([...sent])}`);
    assert(reply.message.length > 0, `ERR ${reply.code} without a message`);
  }
}

Deno.test("fuzzed request lines each get exactly one well-formed reply; the server and a bystander live on", async () => {
  await using server = await TestServer.start(["--workers", "1", "--max-line", "4096"]);
  let exited = false;
  server.process.status.then(() => exited = true);
  using bystander = await TestClient.connect(server.port);
  let client = await TestClient.connect(server.port);
  try {
    await fc.assert(
      fc.asyncProperty(line, async (raw) => {
        await client.write(concat(raw, bytes(10), encoder.encode("PING sentinel\n")));
        const replies: ParsedReply[] = [];
        for (;;) {
          let reply: ParsedReply;
          try {
            reply = await client.read();
          } catch (error) {
            if (!(error instanceof ConnectionClosedError)) throw error;
            // Closed after its one reply: QUIT, or a FILE line whose payload size is unknown.
            assertEquals(
              replies.length,
              1,
              `closed without a reply to ${JSON.stringify([...raw])}`,
            );
            const [only] = replies;
            assert(
              only!.kind === "ok" && only!.text === "bye" ||
                only!.kind === "err" && only!.code === "bad-request",
              `closed after ${JSON.stringify(only)}`,
            );
            client.close();
            client = await TestClient.connect(server.port);
            return;
          }
          if (reply.kind === "ok" && reply.text === "sentinel") break;
          assertWellFormed(reply, raw);
          replies.push(reply);
        }
        assertEquals(
          replies.length,
          isBlank(raw) ? 0 : 1,
          `replies to ${JSON.stringify([...raw])}`,
        );
        assertEquals(await bystander.ask("PING"), "OK PONG");
      }),
      { seed: SEED, numRuns: RUNS },
    );
  } finally {
    client.close();
  }
  assertEquals(exited, false, "the server process is still running");
  assertEquals(await bystander.ask("PING"), "OK PONG");
});
