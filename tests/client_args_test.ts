/**
 * The client command line (docs/client.md): options anywhere, words kept as typed,
 * defaults from the environment, every refusal one line; and the
 * subcommands' words turned into requests, with each command's own usage.
 */
import { assertEquals, assertLessOrEqual, assertRejects, assertThrows } from "@std/assert";
import { type ClientConfig, MAX_TIMEOUT_S, parseClientArgs } from "../lib/client/args.ts";
import { parseCommand, usageOf } from "../lib/client/commands.ts";
import {
  CLIENT_ENV_PERMISSION,
  CLIENT_ENV_VARIABLES,
  type ClientEnvironment,
} from "../lib/client/environment.ts";
import project from "../deno.json" with { type: "json" };
import { EXECUTABLES } from "../scripts/build.ts";
import { UsageError } from "../lib/usage_error.ts";

function config(args: string[], env: ClientEnvironment = {}): ClientConfig {
  const parsed = parseClientArgs(args, env);
  if (parsed.kind !== "run") throw new Error(`expected a run config, got ${parsed.kind}`);
  return parsed.config;
}

function refusal(args: string[], env: ClientEnvironment = {}): string {
  return assertThrows(() => parseClientArgs(args, env), UsageError).message;
}

/** The one-line message of the UsageError parseCommand rejects `words` with. */
async function commandRefusal(words: string[]): Promise<string> {
  return (await assertRejects(() => parseCommand(words), UsageError)).message;
}

Deno.test("client args have the documented defaults", () => {
  assertEquals(config([]), {
    host: "127.0.0.1",
    port: 12000,
    timeoutMs: 30_000,
    json: false,
    force: false,
    workMs: undefined,
    interval: undefined,
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

Deno.test("client args keep negative numbers, numbers and booleans as typed words", () => {
  assertEquals(config(["calc", "add", "-5", "3"]).words, ["calc", "add", "-5", "3"]);
  assertEquals(config(["echo", "--json", "true", "-", "007", "1e3", "-.5"]).words, [
    "echo",
    "true",
    "-",
    "007",
    "1e3",
    "-.5",
  ]);
  assertEquals(config(["--host", "-x", "ping"]).host, "-x");
  assertEquals(config(["echo", "--", "-x"]).words, ["echo", "-x"]);
});

Deno.test("client args name a dash and a letter as an unknown option, with the long one meant", () => {
  assertEquals(refusal(["-p", "12000", "ping"]), "unknown option -p (did you mean --port?)");
  assertEquals(refusal(["ping", "-t", "3"]), "unknown option -t (did you mean --timeout?)");
  assertEquals(refusal(["-z"]), "unknown option -z (--help lists the options)");
});

Deno.test("client args take --host and --port defaults from SWITCHBOARD_HOST and SWITCHBOARD_PORT", () => {
  const env = { SWITCHBOARD_HOST: "::1", SWITCHBOARD_PORT: "12001" };
  assertEquals([config([], env).host, config([], env).port], ["::1", 12001]);
  const given = config(["--host", "localhost", "--port", "7"], env);
  assertEquals([given.host, given.port], ["localhost", 7]);
  assertEquals(config([], { SWITCHBOARD_HOST: "", SWITCHBOARD_PORT: "" }).port, 12000);
  assertEquals(config([], { SWITCHBOARD_HOST: "" }).host, "127.0.0.1");
  assertEquals(
    refusal([], { SWITCHBOARD_PORT: "http" }),
    'SWITCHBOARD_PORT must be an integer from 1 to 65535: received "http"',
  );
  // A bad variable does not matter when --port overrides it.
  assertEquals(config(["--port", "9"], { SWITCHBOARD_PORT: "http" }).port, 9);
});

Deno.test("client args refuse a --timeout the timers cannot hold, and accept the longest they can", () => {
  assertEquals(config(["--timeout", String(MAX_TIMEOUT_S)]).timeoutMs, MAX_TIMEOUT_S * 1000);
  assertLessOrEqual(MAX_TIMEOUT_S * 1000, 2 ** 31 - 1);
  assertEquals(
    refusal(["--timeout", "2147484"]),
    `--timeout must be a number of seconds from 0 to ${MAX_TIMEOUT_S} (0 = forever): ` +
      `received "2147484"`,
  );
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
  assertEquals(refusal(["--bogus", "ping"]), "unknown option --bogus (--help lists the options)");
  assertEquals(refusal(["--bogus=1"]), "unknown option --bogus (--help lists the options)");
  assertEquals(refusal(["--port", "1", "--port=2"]), "--port is given twice");
  assertEquals(refusal(["--json", "ping", "--json"]), "--json is given twice");
  assertEquals(refusal(["--json=yes"]), "--json takes no value");
  assertEquals(refusal(["ping", "--host"]), "--host needs a value");
  assertEquals(
    refusal(["--port", "0"]),
    '--port must be an integer from 1 to 65535: received "0"',
  );
  assertEquals(
    refusal(["--timeout", "x"]),
    `--timeout must be a number of seconds from 0 to ${MAX_TIMEOUT_S} (0 = forever): received "x"`,
  );
  assertEquals(refusal(["--help", "--port", "x"]).startsWith("--port must be"), true);
});

Deno.test("client commands: put and get name their local file, the rest is a request line", async () => {
  assertEquals(await parseCommand(["put", "dir/photo.jpg"]), {
    kind: "put",
    local: "dir/photo.jpg",
    name: "photo.jpg",
  });
  assertEquals(await parseCommand(["GET", "photo.jpg"]), {
    kind: "get",
    name: "photo.jpg",
    local: "photo.jpg",
  });
  assertEquals(await parseCommand(["kv", "keys", "user:"]), { kind: "keys", prefix: "user:" });
  assertEquals(await parseCommand(["kv", "KEYS"]), { kind: "keys", prefix: undefined });
  assertEquals(await parseCommand(["hello", "Ada Lovelace", "S1", "ada"]), {
    kind: "request",
    line: 'HELLO "Ada Lovelace" S1 ada',
  });
  assertEquals(await parseCommand(["kv", "set", "k", "a", "b"]), {
    kind: "request",
    line: "KV SET k a b",
  });
});

Deno.test("client count takes its work-ms as a third word, as on the wire, or as --work-ms", async () => {
  assertEquals(await parseCommand(["count", "5", "3", "100"]), {
    kind: "request",
    line: "COUNT 5 3 100",
  });
  assertEquals(await parseCommand(["count", "5", "3"], { workMs: "10" }), {
    kind: "request",
    line: "COUNT 5 3 10",
  });
  assertEquals(await parseCommand(["count", "5", "3"]), { kind: "request", line: "COUNT 5 3" });
  assertEquals(
    (await assertRejects(
      () => parseCommand(["count", "5", "3", "100"], { workMs: "10" }),
      UsageError,
    )).message,
    "count's work-ms is given twice (as a word and as --work-ms); " +
      "usage: count <start> <increments> [<work-ms>]",
  );
});

Deno.test("client usage errors are one line: the problem, then that command's own usage", async () => {
  const refusals = {
    "calc add": "calc takes 3 arguments, got 1; usage: calc <op> <a> <b>",
    "count 5": "count takes 2 to 3 arguments, got 1; usage: count <start> <increments> [<work-ms>]",
    "kv": "kv needs a subcommand; usage: kv set <key> <value...> | kv get|del <key> | " +
      "kv incr <key> [by] | kv keys [prefix]",
    "kv pop x": 'kv has no subcommand "pop"; usage: kv set <key> <value...> | kv get|del <key> | ' +
      "kv incr <key> [by] | kv keys [prefix]",
    "kv get": "kv get takes 1 argument, got 0; usage: kv get|del <key>",
    "kv keys a b": "kv keys takes at most 1 argument, got 2; usage: kv keys [prefix]",
    "ls x": "ls takes no arguments, got 1; usage: ls",
    "get": "get takes 1 to 2 arguments, got 0; usage: get <name> [local] [--force]",
    "put a b c": "put takes 1 to 2 arguments, got 3; usage: put <local> [name]",
    "echo": "echo takes at least 1 argument, got 0; usage: echo <text...>",
    "hello Ada": "hello needs a student id; usage: hello [name] [student-id] [github]",
    "frobnicate": 'unknown command "frobnicate" (--help lists the commands)',
  };
  for (const [line, message] of Object.entries(refusals)) {
    const refused = await commandRefusal(line.split(" "));
    assertEquals(refused, message, line);
    assertEquals(refused.includes("\n"), false, `${line}: one line`);
  }
  assertEquals(usageOf("kv incr"), "kv incr <key> [by]");
  assertEquals(usageOf("nope"), undefined);
});

Deno.test("client hello asks for each missing field, again while the answer is empty", async () => {
  const questions: string[] = [];
  const answers = ["", "  ", "S1815", "ada"];
  const command = await parseCommand(["hello", "Ada Lovelace"], {
    ask: (question) => {
      questions.push(question);
      return Promise.resolve(answers.shift() ?? null);
    },
  });
  assertEquals(command, { kind: "request", line: 'HELLO "Ada Lovelace" S1815 ada' });
  assertEquals(questions, ["student id: ", "student id: ", "student id: ", "GitHub user: "]);
  const gaveUp = await assertRejects(
    () => parseCommand(["hello"], { ask: () => Promise.resolve(null) }),
    UsageError,
  );
  assertEquals(gaveUp.message, "hello needs a name; usage: hello [name] [student-id] [github]");
});

Deno.test("the client task and executable may read exactly the variables the client reads", () => {
  assertEquals(CLIENT_ENV_PERMISSION, `--allow-env=${CLIENT_ENV_VARIABLES.join(",")}`);
  const task = project.tasks.client.split(" ");
  assertEquals(task.filter((flag) => flag.startsWith("--allow-env")), [CLIENT_ENV_PERMISSION]);
  const executable = EXECUTABLES.find((exe) => exe.entry === "client.ts")!;
  assertEquals(
    executable.permissions.filter((flag) => flag.startsWith("--allow-env")),
    [CLIENT_ENV_PERMISSION],
  );
});
