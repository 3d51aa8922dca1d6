/** The server command line (docs/server.md#server-options): positionals, options, and every refusal. */
import { assertEquals, assertThrows } from "@std/assert";
import { parseServerArgs, type ServerConfig } from "../lib/server/config.ts";
import { UsageError } from "../lib/usage_error.ts";
import { backlogCapNote } from "../lib/server/door/listen.ts";

function config(args: string[]): ServerConfig {
  const parsed = parseServerArgs(args);
  if (parsed.kind !== "run") throw new Error(`expected a run config, got ${parsed.kind}`);
  return parsed.config;
}

Deno.test("server args take the classic PORT MAX_RUNNING positionals", () => {
  const c = config(["12001", "5"]);
  assertEquals([c.port, c.maxRunning], [12001, 5]);
});

Deno.test("server args have the documented defaults", () => {
  assertEquals(config([]), {
    host: "127.0.0.1",
    port: 12000,
    maxRunning: 64,
    queueLimit: 1024,
    queueTimeoutS: 0,
    idleTimeoutS: 300,
    requestTimeoutS: 30,
    minRate: 4096,
    maxPerIp: 0,
    maxLine: 65536,
    drainTimeoutS: 10,
    workers: navigator.hardwareConcurrency,
    dataDir: "./data",
    rootDir: "./files",
    store: undefined,
    maxFileSize: 1073741824,
    echo: false,
    metrics: undefined,
    usersFile: undefined,
    addresses: { allow: [], deny: [] },
    insecure: false,
    tls: undefined,
    backlog: 4096,
    proxyProtocol: undefined,
    logLevel: "info",
    logFormat: "text",
  });
});

Deno.test("server args read every option", () => {
  const c = config([
    "--host=::",
    "--port",
    "0",
    "--max-running",
    "3",
    "--queue-limit",
    "7",
    "--queue-timeout",
    "1.5",
    "--idle-timeout",
    "0.25",
    "--request-timeout",
    "2.5",
    "--min-rate",
    "100",
    "--max-per-ip",
    "2",
    "--max-line",
    "100",
    "--drain-timeout",
    "0",
    "--workers",
    "3",
    "--data",
    "/var/lib/sb",
    "--root",
    "/srv/files",
    "--max-file-size",
    "0",
    "--echo",
    "-v",
    "--log-format",
    "json",
    "--metrics-port",
    "9464",
    "--allow",
    "10.0.0.0/8,::1",
    "--deny",
    "10.0.0.7",
    "--insecure",
    "--tls-cert",
    "cert.pem",
    "--tls-key",
    "key.pem",
    "--backlog",
    "128",
    "--store",
    "postgres://sb:p%40ss@[::1]:6543/switch%20board",
    "--proxy-protocol",
    "10.1.2.3",
  ]);
  assertEquals(c, {
    host: "::",
    port: 0,
    maxRunning: 3,
    queueLimit: 7,
    queueTimeoutS: 1.5,
    idleTimeoutS: 0.25,
    requestTimeoutS: 2.5,
    minRate: 100,
    maxPerIp: 2,
    maxLine: 100,
    drainTimeoutS: 0,
    workers: 3,
    dataDir: "/var/lib/sb",
    rootDir: "/srv/files",
    store: { user: "sb", password: "p@ss", host: "::1", port: 6543, database: "switch board" },
    maxFileSize: 0,
    echo: true,
    metrics: { hostname: "127.0.0.1", port: 9464 },
    usersFile: undefined,
    addresses: {
      allow: [
        { network: new Uint8Array([10, 0, 0, 0]), prefix: 8 },
        { network: new Uint8Array([...new Array(15).fill(0), 1]), prefix: 128 },
      ],
      deny: [{ network: new Uint8Array([10, 0, 0, 7]), prefix: 32 }],
    },
    insecure: true,
    tls: { certFile: "cert.pem", keyFile: "key.pem" },
    backlog: 128,
    proxyProtocol: [{ network: new Uint8Array([10, 1, 2, 3]), prefix: 32 }],
    logLevel: "debug",
    logFormat: "json",
  });
  assertEquals(config(["-q"]).logLevel, "quiet");
});

Deno.test("--store takes postgres://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE and defaults the rest", () => {
  assertEquals(config(["--store", "postgresql://db.internal/switchboard"]).store, {
    user: undefined,
    password: undefined,
    host: "db.internal",
    port: 5432,
    database: "switchboard",
  });
  assertEquals(config(["--store", "postgres://me@10.0.0.5:5433/kv"]).store, {
    user: "me",
    password: undefined,
    host: "10.0.0.5",
    port: 5433,
    database: "kv",
  });
});

Deno.test("server args refuse unknown, repeated and conflicting options", () => {
  const cases: Array<[string[], string]> = [
    [["--bogus"], "unknown option --bogus"],
    [["-x"], "unknown option -x"],
    [["-p", "13130"], "unknown option -p (did you mean --port?)"],
    [["--prot", "1"], "unknown option --prot (did you mean --port?)"],
    [["--max-runing=3"], "unknown option --max-runing (did you mean --max-running?)"],
    [["--quite"], "unknown option --quite (did you mean --quiet?)"],
    [["--port"], "--port needs a value"],
    [["--port", "1", "--port", "2"], "--port is given twice"],
    [["--echo", "--echo"], "--echo is given twice"],
    [["12000", "--port", "1"], "port is given twice (as 12000 and --port)"],
    [["1", "2", "3"], "too many arguments: 3"],
    [["-v", "-q"], "--verbose and --quiet cannot be combined"],
    [["--insecure", "--insecure"], "--insecure is given twice"],
    [["--store", "postgres://h/a", "--store", "postgres://h/b"], "--store is given twice"],
    [["--users", "a", "--users", "b"], "--users is given twice"],
    [["--users", "u", "--echo"], "--users cannot be combined with --echo: echo mode has no AUTH"],
    [["--tls-cert", "c.pem"], "--tls-cert needs --tls-key (its private key)"],
    [["--tls-key", "k.pem"], "--tls-key needs --tls-cert (its certificate chain)"],
    [["--users="], '--users must be a file path: received ""'],
    [["--backlog", "1", "--backlog", "2"], "--backlog is given twice"],
  ];
  for (const [args, message] of cases) {
    assertThrows(() => parseServerArgs(args), UsageError, message);
  }
});

Deno.test("server args name the bad value and the allowed range", () => {
  const cases: Array<[string[], string]> = [
    [
      ["--max-running", "abc"],
      '--max-running must be an integer from 1 to 1000000: received "abc"',
    ],
    [["--max-running", "0"], '--max-running must be an integer from 1 to 1000000: received "0"'],
    [["70000"], '--port must be an integer from 0 to 65535: received "70000"'],
    [
      ["--idle-timeout", "-1"],
      '--idle-timeout must be a number of seconds from 0 to 31536000: received "-1"',
    ],
    [["--max-running", "-1"], '--max-running must be an integer from 1 to 1000000: received "-1"'],
    [
      ["--queue-timeout", "soon"],
      '--queue-timeout must be a number of seconds from 0 to 31536000: received "soon"',
    ],
    [["--log-format", "xml"], '--log-format must be text or json: received "xml"'],
    [["--workers", "0"], '--workers must be an integer from 1 to 256: received "0"'],
    [["--max-line", "1.5"], '--max-line must be an integer from 1 to 67108864: received "1.5"'],
    [
      ["--allow", "10.0.0.1/8"],
      '--allow entry "10.0.0.1/8" has bits set after its /8 prefix (did you mean 10.0.0.0/8?)',
    ],
    [["--deny", "10.0.0.0/8,nope"], '--deny entry "nope" is not an address'],
    [["--backlog", "0"], '--backlog must be an integer from 1 to 65535: received "0"'],
    [["--backlog", "65536"], '--backlog must be an integer from 1 to 65535: received "65536"'],
    [["--backlog", "many"], '--backlog must be an integer from 1 to 65535: received "many"'],
    [["--proxy-protocol", "haproxy"], '--proxy-protocol entry "haproxy" is not an address'],
  ];
  for (const [args, message] of cases) {
    assertThrows(() => parseServerArgs(args), UsageError, message);
  }
});

Deno.test("--metrics-port binds 127.0.0.1, not --host, unless it names its own address", () => {
  assertEquals(config(["--metrics-port", "9464"]).metrics, { hostname: "127.0.0.1", port: 9464 });
  assertEquals(config(["--host", "0.0.0.0", "--metrics-port", "0"]).metrics, {
    hostname: "127.0.0.1",
    port: 0,
  });
  assertEquals(config(["--host", "0.0.0.0", "--metrics-port", "10.0.0.5:9464"]).metrics, {
    hostname: "10.0.0.5",
    port: 9464,
  });
  assertEquals(config(["--metrics-port", "[::1]:9464"]).metrics, { hostname: "::1", port: 9464 });
  for (const bad of ["x", "70000", "::1:9464", "host:", "[::1]"]) {
    assertThrows(
      () => parseServerArgs(["--metrics-port", bad]),
      UsageError,
      `--metrics-port must be PORT or ADDRESS:PORT (port 0 to 65535): received "${bad}"`,
    );
  }
});

Deno.test("server args answer --help and --version before anything else", () => {
  assertEquals(parseServerArgs(["--help"]).kind, "help");
  assertEquals(parseServerArgs(["-h", "--port", "x"]).kind, "help");
  assertEquals(parseServerArgs(["--version"]).kind, "version");
});

Deno.test("backlogCapNote names the kernel's cap when it is below --backlog, and nothing otherwise", () => {
  assertEquals(
    backlogCapNote(4096, 511),
    "--backlog 4096 is capped by the kernel at 511 (net.core.somaxconn): a burst of more " +
      "connections than that may wait a second each; raise it with sysctl -w net.core.somaxconn=4096",
  );
  assertEquals(backlogCapNote(4096, 4096), undefined);
  assertEquals(backlogCapNote(128, 4096), undefined);
  assertEquals(backlogCapNote(4096, undefined), undefined);
});
