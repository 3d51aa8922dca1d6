/**
 * Test helpers: a real server started as a subprocess on port 0 (cleaned up
 * with `await using`), and a protocol client built on lib's ReplyReader,
 * over TCP, TLS, or from another loopback address (playing a remote peer).
 */
import { createHash } from "node:crypto";
import net from "node:net";
import { deadline } from "@std/async/deadline";
import project from "../deno.json" with { type: "json" };
import { AssertionError } from "@std/assert";
import { writeAll } from "../lib/io.ts";
import { NET_THREAD_PERMISSION } from "../lib/server/net_thread.ts";
import { type ParsedReply, ReplyReader } from "../lib/protocol/mod.ts";

const ROOT = new URL("..", import.meta.url);
const SERVER = new URL("server.ts", ROOT).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Flags the server subprocess runs with: the same as `deno task server`. */
export const SERVER_PERMISSIONS = [
  "--unstable-kv",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  NET_THREAD_PERMISSION,
];

/** A server subprocess; `await using` sends SIGTERM and waits for it. */
export class TestServer {
  readonly port: number;
  readonly process: Deno.ChildProcess;
  /** Every stderr line so far. */
  readonly log: string[];
  readonly #logDone: Promise<void>;
  /** A scratch directory for --data (and anything else), removed on dispose. */
  readonly dir: string;
  readonly #ownsDir: boolean;
  #status: Promise<Deno.CommandStatus> | undefined;

  private constructor(
    port: number,
    process: Deno.ChildProcess,
    log: string[],
    logDone: Promise<void>,
    dir: string,
    ownsDir: boolean,
  ) {
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.port = port;
    this.process = process;
    this.log = log;
    this.#logDone = logDone;
  }

  /**
   * Starts `server.ts --port 0 ...args` (or `entry` instead) and waits for its
   * listening line. With `positional`, no `--port 0` is added: args give the port.
   */
  static async start(
    args: string[] = [],
    options: {
      entry?: string;
      permissions?: string[];
      positional?: boolean;
      dir?: string;
      env?: Record<string, string>;
      /** A command the server runs under, e.g. `["prlimit", "--nofile=256"]`. */
      wrap?: string[];
    } = {},
  ): Promise<TestServer> {
    const entry = options.entry ?? SERVER;
    const dir = options.dir ?? await Deno.makeTempDir({ prefix: "switchboard-test-" });
    const dataArgs = [
      ...(args.includes("--data") ? [] : ["--data", `${dir}/data`]),
      ...(args.includes("--root") ? [] : ["--root", `${dir}/files`]),
    ];
    const wrap = options.wrap ?? [];
    const process = new Deno.Command(wrap[0] ?? Deno.execPath(), {
      args: [
        ...(wrap.length > 0 ? [...wrap.slice(1), Deno.execPath()] : []),
        "run",
        "--no-prompt",
        ...(options.permissions ?? SERVER_PERMISSIONS),
        entry,
        ...(options.positional ? [] : ["--port", "0"]),
        ...dataArgs,
        ...args,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(options.env ? { env: options.env } : {}),
    }).spawn();
    process.stdout.pipeTo(new WritableStream()).catch(() => {});
    const log: string[] = [];
    let resolvePort: (port: number) => void = () => {};
    let rejectPort: (error: Error) => void = () => {};
    const portPromise = new Promise<number>((resolve, reject) => {
      resolvePort = resolve;
      rejectPort = reject;
    });
    const logDone = (async () => {
      let partial = "";
      for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) {
        partial += chunk;
        const lines = partial.split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          log.push(line);
          const match = /listening on .*?:(\d+),/.exec(line);
          if (match) resolvePort(Number(match[1]));
        }
      }
      if (partial) log.push(partial);
      rejectPort(new Error(`server exited before listening:\n${log.join("\n")}`));
    })();
    const timer = setTimeout(() => rejectPort(new Error("server did not start in 20 s")), 20_000);
    try {
      const port = await portPromise;
      return new TestServer(port, process, log, logDone, dir, options.dir === undefined);
    } catch (error) {
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
      await process.status;
      await logDone;
      if (options.dir === undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a signal (SIGTERM by default). */
  signal(signal: Deno.Signal = "SIGTERM"): void {
    this.process.kill(signal);
  }

  /** The exit status, once the process ends; the log is complete by then. */
  async exited(): Promise<Deno.CommandStatus> {
    this.#status ??= this.process.status;
    const status = await this.#status;
    await this.#logDone;
    return status;
  }

  /** Throws, showing the log, unless a line so far matches `pattern` (or, with `present` false, none does). */
  assertLogged(pattern: RegExp, present = true): void {
    if (this.log.some((line) => pattern.test(line)) === present) return;
    throw new AssertionError(
      `expected ${present ? "a" : "no"} log line matching ${pattern}; the log:\n${
        this.log.join("\n")
      }`,
    );
  }

  /** Resolves when a log line matching `pattern` has appeared (polls the collected log). */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.log.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (Date.now() > deadline) {
        throw new Error(`no log line matched ${pattern}:\n${this.log.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch { /* already exited */ }
    const timer = setTimeout(() => {
      try {
        this.process.kill("SIGKILL");
      } catch { /* already exited */ }
    }, 15_000);
    await this.exited();
    clearTimeout(timer);
    if (this.#ownsDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** What a test client needs of its connection: a Deno.Conn, or a node socket made to look like one. */
export interface TestConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** A protocol client for tests: send lines or bytes, read parsed replies. */
export class TestClient {
  readonly conn: TestConn;
  readonly replies: ReplyReader;

  private constructor(conn: TestConn) {
    this.conn = conn;
    this.replies = new ReplyReader(conn);
  }

  static async connect(port: number): Promise<TestClient> {
    return new TestClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Connects to `hostname` (e.g. `::1`) instead of 127.0.0.1. */
  static async connectTo(hostname: string, port: number): Promise<TestClient> {
    return new TestClient(await Deno.connect({ hostname, port }));
  }

  /** Connects with TLS, trusting `caCert` (PEM), to `hostname` (default localhost). */
  static async connectTls(
    port: number,
    caCert: string,
    hostname = "localhost",
  ): Promise<TestClient> {
    const conn = await Deno.connectTls({ hostname, port, caCerts: [caCert] });
    await conn.handshake();
    return new TestClient(conn);
  }

  /**
   * Connects to 127.0.0.1 from `localAddress` (e.g. 127.0.0.2, which the
   * server must treat as a remote peer). Deno.connect cannot choose its
   * source address; node:net can.
   */
  static async connectFrom(port: number, localAddress: string): Promise<TestClient> {
    return new TestClient(await NodeConn.connect(port, localAddress));
  }

  /** Sends `line` + LF. */
  async send(line: string): Promise<void> {
    await this.write(encoder.encode(line + "\n"));
  }

  /** Sends raw bytes. */
  async write(bytes: Uint8Array | string): Promise<void> {
    await writeAll(this.conn, typeof bytes === "string" ? encoder.encode(bytes) : bytes);
  }

  /** Reads one reply. */
  read(): Promise<ParsedReply> {
    return this.replies.read();
  }

  /** Reads one reply and renders it as its first line (DATA: header and text body). */
  async readText(): Promise<string> {
    return render(await this.read());
  }

  /** `FILE PUT name size` and the bytes, then the rendered reply. */
  async put(name: string, bytes: Uint8Array | string): Promise<string> {
    const body = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
    await this.write(concat(encoder.encode(`FILE PUT ${name} ${body.length}\n`), body));
    return await this.readText();
  }

  /** Sends a line and returns the rendered reply. */
  async ask(line: string): Promise<string> {
    await this.send(line);
    return await this.readText();
  }

  /**
   * Resolves once the server has closed the connection (reading to EOF and
   * discarding what arrives; a reset counts as closed). Throws after
   * `timeoutMs` if it is still open, with the last bytes that arrived.
   */
  async closedByServer(timeoutMs = 10_000): Promise<void> {
    const buf = new Uint8Array(1024);
    let seen = "";
    const drain = (async () => {
      try {
        for (let n = await this.conn.read(buf); n !== null; n = await this.conn.read(buf)) {
          seen = (seen + decoder.decode(buf.subarray(0, n))).slice(-200);
        }
      } catch {
        // a reset counts as closed
      }
    })();
    try {
      await deadline(drain, timeoutMs);
    } catch {
      this.close();
      throw new Error(
        `expected the server to close the connection within ${timeoutMs} ms; ` +
          `it is still open, and the last bytes it sent were ${JSON.stringify(seen)}`,
      );
    }
  }

  /** Half-close: no more requests, replies still come. */
  async closeWrite(): Promise<void> {
    await this.conn.closeWrite();
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A node:net socket with the read/write shape of a Deno.Conn (reads pull from what arrived). */
class NodeConn implements TestConn {
  readonly #socket: net.Socket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: () => void = () => {};

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    const wake = () => this.#wake();
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(new Uint8Array(chunk));
      wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      wake();
    });
  }

  static connect(port: number, localAddress: string): Promise<NodeConn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress });
      socket.once("connect", () => resolve(new NodeConn(socket)));
      socket.once("error", reject);
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0 && !this.#ended && this.#error === undefined) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#chunks.shift();
    if (chunk === undefined) {
      if (this.#error !== undefined) throw this.#error;
      return null;
    }
    const n = Math.min(p.length, chunk.length);
    p.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#chunks.unshift(chunk.subarray(n));
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) =>
      this.#socket.write(p, (error) => error ? reject(error) : resolve(p.length))
    );
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Throws, showing both, unless `actual` starts with `prefix`. */
export function assertStartsWith(actual: string, prefix: string, message?: string): void {
  if (actual.startsWith(prefix)) return;
  throw new AssertionError(
    `${message ? message + ": " : ""}expected a string starting with ${
      JSON.stringify(prefix)
    }, got ${JSON.stringify(actual)}`,
  );
}

/** `OK text`, `ERR code message`, or `DATA n` + LF + body text. */
export function render(reply: ParsedReply): string {
  switch (reply.kind) {
    case "ok":
      return reply.text === undefined ? "OK" : `OK ${reply.text}`;
    case "err":
      return `ERR ${reply.code} ${reply.message}`;
    case "data":
      return `DATA ${reply.body.length}\n${decoder.decode(reply.body)}`;
  }
}

/** Every key STATS reports. */
export const STAT_KEYS = [
  "uptime_s",
  "max_running",
  "running",
  "queued",
  "accepted_total",
  "served_total",
  "rejected_total",
  "timeouts_total",
  "commands_total",
  "bytes_in",
  "bytes_out",
  "workers",
  "jobs_total",
  "jobs_running",
  "jobs_queued",
  "hashes_total",
  "denied_total",
  "auth_failures_total",
  "tls_failures_total",
  "proxy_errors_total",
] as const;

/** Parsed STATS: every known key is present (or parseStats throws). */
export type StatsRecord = Record<(typeof STAT_KEYS)[number], number>;

/** Parses a rendered STATS reply (`DATA n` + body) into numbers. */
export function parseStats(text: string): StatsRecord {
  const stats: Record<string, number> = {};
  for (const line of text.split("\n").slice(1)) {
    if (!line) continue;
    const [key, value] = line.split(" ");
    stats[key!] = Number(value);
  }
  for (const key of STAT_KEYS) {
    if (!(key in stats)) throw new Error(`STATS has no ${key}:\n${text}`);
  }
  return stats as StatsRecord;
}

/** Polls `probe` until it returns true (for state the test cannot await directly). */
export async function eventually(
  probe: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs a command with stdin bytes (and `env` added, in `cwd`); returns exit code and output. */
export async function run(
  cmd: string,
  args: string[],
  stdin?: Uint8Array | string,
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(typeof stdin === "string" ? encoder.encode(stdin) : stdin);
    await writer.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * Runs `server.ts --port 0 ...args` to its end, for a server that must
 * refuse to start: its exit code and what it printed.
 */
export function runServerToExit(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(Deno.execPath(), [
    "run",
    ...SERVER_PERMISSIONS,
    repoPath("server.ts"),
    "--port",
    "0",
    ...args,
  ]);
}

/** Absolute path of a file in the repository. */
export function repoPath(relative: string): string {
  return new URL(relative, ROOT).pathname;
}

/**
 * Writes `keys` (value "v") straight into a KV database in `dataDir`, as a
 * server from before the key index left it, so the server builds its index
 * when it opens it: ten thousand KV SETs over the wire take seconds, this
 * takes a fraction of one. Deno KV allows 1,000 mutations and 81,920 key
 * bytes per commit.
 */
export async function populateKv(dataDir: string, keys: readonly string[]): Promise<void> {
  await Deno.mkdir(dataDir, { recursive: true });
  const kv = await Deno.openKv(`${dataDir}/switchboard.kv`);
  try {
    for (let i = 0; i < keys.length; i += 200) {
      const batch = kv.atomic();
      for (const key of keys.slice(i, i + 200)) batch.set(["kv", key], encoder.encode("v"));
      await batch.commit();
    }
  } finally {
    kv.close();
  }
}

/** The parts, one after the other, in one array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The names in a directory, sorted (hidden and temporary files included). */
export async function filesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** The sha256 of `bytes`, lowercase hex, as the protocol writes it. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** `n` random bytes (getRandomValues gives at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(out.subarray(off, off + 65536));
  return out;
}

/**
 * The permission flags of `deno task client`, read from deno.json, so that
 * the tests run the client with exactly what users grant it.
 */
export const CLIENT_PERMISSIONS: readonly string[] = project.tasks.client.split(" ")
  .filter((word) => word.startsWith("--allow-"));

/** `deno run` arguments for the client with its task's permissions, pointed at `port`. */
export function clientArgs(port: number): string[] {
  return [
    "run",
    "--no-prompt",
    ...CLIENT_PERMISSIONS,
    repoPath("client.ts"),
    "--port",
    String(port),
  ];
}

/** A fresh temporary folder, removed with everything in it by `await using`. */
export async function tempDir(
  prefix = "switchboard-test-",
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
