/**
 * What the client prints (docs/client.md): payloads, ERR lines byte-exact, and
 * `--json` with structured fields for STATS, WHO, FILE LIST, KV KEYS/SCAN.
 */
import { assertEquals } from "@std/assert";
import { Printer } from "../lib/client/output.ts";
import { shapeOf, structuredFields } from "../lib/client/reply_shapes.ts";
import type { ParsedReply } from "../lib/protocol/mod.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A sink that keeps what is written. */
function memorySink() {
  const chunks: Uint8Array[] = [];
  return {
    writeSync: (p: Uint8Array) => (chunks.push(p.slice()), p.length),
    text: () => chunks.map((c) => decoder.decode(c)).join(""),
  };
}

function printer(json: boolean) {
  const stdout = memorySink();
  const stderr = memorySink();
  return { stdout, stderr, printer: new Printer({ stdout, stderr, json, color: false }) };
}

function data(text: string): ParsedReply {
  return { kind: "data", body: encoder.encode(text) };
}

/** The JSON `--json` prints for `reply` to `request`. */
function json(reply: ParsedReply, request?: string): unknown {
  const { stdout, printer: p } = printer(true);
  p.print(reply, request);
  assertEquals(stdout.text().endsWith("\n"), true);
  return JSON.parse(stdout.text());
}

Deno.test("--json STATS has every counter as a number at the top level (jq .running)", () => {
  assertEquals(json(data("uptime_s 5\nrunning 1\nqueued 0\n"), "STATS"), {
    ok: true,
    uptime_s: 5,
    running: 1,
    queued: 0,
  });
  assertEquals(json(data("running 1\n"), "stats"), { ok: true, running: 1 });
});

Deno.test("--json WHO is an array of connections; no name is null, a quoted name is unquoted", () => {
  const who = '1 127.0.0.1:53012 running "Ada Lovelace" 2026-11-21T10:00:00.000Z\n' +
    "2 [::1]:53020 queued - 2026-11-21T10:00:05.000Z\n" +
    '3 10.0.0.1:9 running "-" 2026-11-21T10:00:06.000Z\n';
  assertEquals(json(data(who), "WHO"), {
    ok: true,
    connections: [
      {
        id: 1,
        address: "127.0.0.1",
        port: 53012,
        state: "running",
        name: "Ada Lovelace",
        connected_since: "2026-11-21T10:00:00.000Z",
      },
      {
        id: 2,
        address: "::1",
        port: 53020,
        state: "queued",
        name: null,
        connected_since: "2026-11-21T10:00:05.000Z",
      },
      {
        id: 3,
        address: "10.0.0.1",
        port: 9,
        state: "running",
        name: "-",
        connected_since: "2026-11-21T10:00:06.000Z",
      },
    ],
  });
});

Deno.test("--json FILE LIST is an array of files, names with spaces kept whole", () => {
  const list = "5 2026-11-21T10:00:00.000Z hello.txt\n0 2026-11-21T10:00:01.000Z my notes.md\n";
  assertEquals(json(data(list), "FILE LIST"), {
    ok: true,
    files: [
      { name: "hello.txt", size: 5, modified: "2026-11-21T10:00:00.000Z" },
      { name: "my notes.md", size: 0, modified: "2026-11-21T10:00:01.000Z" },
    ],
  });
  assertEquals(json(data(""), "file list"), { ok: true, files: [] });
});

Deno.test("--json KV KEYS and KV SCAN are arrays of keys", () => {
  assertEquals(json(data("a\nb\n"), "KV KEYS"), { ok: true, keys: ["a", "b"] });
  assertEquals(json(data("b\n"), 'kv scan "" AFTER a LIMIT 1'), { ok: true, keys: ["b"] });
  assertEquals(json(data(""), "KV KEYS nothing"), { ok: true, keys: [] });
});

Deno.test("--json keeps the plain payload for other DATA, and for a body that is not its shape", () => {
  assertEquals(json(data("PING [text]\n"), "HELP PING"), {
    ok: true,
    size: 12,
    data: "PING [text]\n",
  });
  assertEquals(json(data("running lots\n"), "STATS"), {
    ok: true,
    size: 13,
    data: "running lots\n",
  });
  assertEquals(json(data("x\n")), { ok: true, size: 2, data: "x\n" });
  assertEquals(json({ kind: "ok", text: "PONG" }, "PING"), { ok: true, text: "PONG" });
});

Deno.test("the request decides the shape, in any case, and only for the commands that have one", () => {
  assertEquals(shapeOf("stats"), "stats");
  assertEquals(shapeOf("  who"), "who");
  assertEquals(shapeOf("File List"), "files");
  assertEquals(shapeOf("FILE GET x"), undefined);
  assertEquals(shapeOf("KV SCAN p LIMIT 3"), "keys");
  assertEquals(shapeOf('ECHO "unbalanced'), undefined);
  assertEquals(structuredFields("keys", ""), { keys: [] });
});

Deno.test("ERR text is printed byte-exact, never re-cased, in both modes", () => {
  const reply: ParsedReply = { kind: "err", code: "busy", message: "Server FULL (1 running)" };
  const plain = printer(false);
  assertEquals(plain.printer.print(reply), true);
  assertEquals(plain.stderr.text(), "error: busy: Server FULL (1 running)\n");
  assertEquals(plain.stdout.text(), "");
  assertEquals(json(reply), { ok: false, code: "busy", message: "Server FULL (1 running)" });
});

Deno.test("a key listing prints page by page: one key a line, or one JSON object", () => {
  const plain = printer(false);
  const lines = plain.printer.keyListing();
  lines.page(["a", "b"]);
  lines.page(["c"]);
  lines.end();
  assertEquals(plain.stdout.text(), "a\nb\nc\n");
  const structured = printer(true);
  const listing = structured.printer.keyListing();
  listing.page(["a", 'quo"te']);
  listing.page([]);
  listing.page(["c"]);
  listing.end();
  assertEquals(JSON.parse(structured.stdout.text()), { ok: true, keys: ["a", 'quo"te', "c"] });
  const empty = printer(true);
  empty.printer.keyListing().end();
  assertEquals(JSON.parse(empty.stdout.text()), { ok: true, keys: [] });
});

Deno.test("a reply without text prints nothing, or OK in the shell (as redis-cli does)", () => {
  const quiet = printer(false);
  quiet.printer.print({ kind: "ok" });
  assertEquals(quiet.stdout.text(), "");
  const stdout = memorySink();
  const shell = new Printer({
    stdout,
    stderr: memorySink(),
    json: false,
    color: false,
    bareOk: true,
  });
  shell.print({ kind: "ok" });
  shell.print({ kind: "ok", text: "PONG" });
  assertEquals(stdout.text(), "OK\nPONG\n");
});
