/** The client command line (SPEC §7): options anywhere, words kept as typed, every refusal. */
import { assertEquals, assertThrows } from "@std/assert";
import { type ClientConfig, parseClientArgs } from "../lib/client/args.ts";
import { parseCommand } from "../lib/client/commands.ts";
import { UsageError } from "../lib/usage_error.ts";

function config(args: string[]): ClientConfig {
  const parsed = parseClientArgs(args);
  if (parsed.kind !== "run") throw new Error(`expected a run config, got ${parsed.kind}`);
  return parsed.config;
}

function refusal(args: string[]): string {
  return assertThrows(() => parseClientArgs(args), UsageError).message;
}

Deno.test("client args have the SPEC defaults", () => {
  assertEquals(config([]), {
    host: "127.0.0.1",
    port: 12000,
    timeoutMs: 30_000,
    json: false,
    force: false,
    workMs: undefined,
    words: [],
    tls: false,
    caCert: undefined,
    user: undefined,
  });
});

Deno.test("client args read --tls, --cacert and --user, and refuse --cacert without --tls", () => {
  const c = config(["--tls", "ping", "--cacert", "ca.pem", "--user=ada"]);
  assertEquals([c.tls, c.caCert, c.user, c.words], [true, "ca.pem", "ada", ["ping"]]);
  assertEquals(
    refusal(["--cacert", "ca.pem", "ping"]),
    "--cacert is for TLS connections: add --tls",
  );
  assertEquals(refusal(["--tls=yes"]), "--tls takes no value");
  assertEquals(refusal(["--user", "a", "--user", "b"]), "--user is given twice");
  assertEquals(
    refusal(["--user", "-x"]),
    '--user must be a user name, 1 to 64 of A-Z a-z 0-9 . _ - (not starting with -): received "-x"',
  );
});

Deno.test("client args take options anywhere, with or without =", () => {
  const c = config([
    "count",
    "--host",
    "::1",
    "5",
    "--port=12001",
    "3",
    "--work-ms",
    "10",
    "--json",
  ]);
  assertEquals(c.host, "::1");
  assertEquals(c.port, 12001);
  assertEquals(c.workMs, "10");
  assertEquals(c.json, true);
  assertEquals(c.words, ["count", "5", "3"]);
  assertEquals(config(["--timeout", "0.3"]).timeoutMs, 300);
});

Deno.test("client args keep words that look like short options, numbers or booleans as typed", () => {
  assertEquals(config(["calc", "add", "-5", "3"]).words, ["calc", "add", "-5", "3"]);
  assertEquals(config(["echo", "--json", "true", "-x", "007", "1e3"]).words, [
    "echo",
    "true",
    "-x",
    "007",
    "1e3",
  ]);
  assertEquals(config(["--host", "-x", "ping"]).host, "-x");
});

Deno.test("client args end options at --", () => {
  const c = config(["raw", "--json", "--", "ECHO", "--port", "-h"]);
  assertEquals(c.json, true);
  assertEquals(c.port, 12000);
  assertEquals(c.words, ["raw", "ECHO", "--port", "-h"]);
});

Deno.test("client args answer --help, -h and --version", () => {
  assertEquals(parseClientArgs(["ping", "-h"]), { kind: "help" });
  assertEquals(parseClientArgs(["--help", "--help"]), { kind: "help" });
  assertEquals(parseClientArgs(["--version"]), { kind: "version" });
});

Deno.test("client args refuse unknown, repeated, missing and bad option values", () => {
  assertEquals(refusal(["--bogus", "ping"]), "unknown option --bogus");
  assertEquals(refusal(["--bogus=1"]), "unknown option --bogus");
  assertEquals(refusal(["--port", "1", "--port=2"]), "--port is given twice");
  assertEquals(refusal(["--json", "ping", "--json"]), "--json is given twice");
  assertEquals(refusal(["--json=yes"]), "--json takes no value");
  assertEquals(refusal(["ping", "--host"]), "--host needs a value");
  assertEquals(
    refusal(["--port", "0"]),
    '--port must be an integer from 1 to 65535: received "0"',
  );
  assertEquals(
    refusal(["--timeout", "-1"]),
    '--timeout must be a number of seconds (0 = forever): received "-1"',
  );
  assertEquals(refusal(["--help", "--port", "x"]).startsWith("--port must be"), true);
});

Deno.test("client commands: put and get name their local file, the rest is a request line", () => {
  assertEquals(parseCommand(["put", "dir/photo.jpg"]), {
    kind: "put",
    local: "dir/photo.jpg",
    name: "photo.jpg",
  });
  assertEquals(parseCommand(["GET", "photo.jpg"]), {
    kind: "get",
    name: "photo.jpg",
    local: "photo.jpg",
  });
  assertEquals(parseCommand(["count", "5", "3"], { workMs: "10" }), {
    kind: "request",
    line: "COUNT 5 3 10",
  });
  assertThrows(() => parseCommand(["get"]), UsageError, "usage: get <name> [local] [--force]");
  assertThrows(() => parseCommand(["put", "a", "b", "c"]), UsageError, "usage: put <local> [name]");
});
