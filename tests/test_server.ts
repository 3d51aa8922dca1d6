/**
 * A real server started as a subprocess on port 0 (`await using` stops it
 * and removes its scratch folder), and a server run to its end when it must
 * refuse to start. Every wait on the process has a deadline.
 */
import { AssertionError } from "@std/assert";
import { SERVER_RUN_FLAGS } from "../lib/server/environment.ts";
import { eventually, within } from "./deadlines.ts";
import { repoPath, run } from "./processes.ts";

const SERVER = repoPath("server.ts");
/** How long a server may take to print its listening line (a cold start compiles the code). */
const START_TIMEOUT_MS = 20_000;
/** How long {@linkcode TestServer.exited} waits by default. */
const EXIT_TIMEOUT_MS = 20_000;
/** How long a disposed server may drain after SIGTERM before it is killed. */
const KILL_AFTER_MS = 15_000;

/** Flags the server subprocess runs with: the same as `deno task server`. */
export const SERVER_PERMISSIONS = SERVER_RUN_FLAGS;

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
    const timer = setTimeout(
      () =>
        rejectPort(
          new Error(
            `waited ${START_TIMEOUT_MS} ms for the server's listening line; its log:\n${
              log.join("\n")
            }`,
          ),
        ),
      START_TIMEOUT_MS,
    );
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

  /**
   * Stops the server (SIGSTOP) and resolves once every one of its threads
   * has stopped. kill() returns when the signal is queued: one thread takes
   * it and stops the others, so on a loaded machine a network thread can
   * still answer for a while after kill() returned. Reads the thread states
   * with `ps -L` (procps), since Deno reads /proc/<pid>/task only with
   * --allow-all.
   */
  async freeze(timeoutMs = 10_000): Promise<void> {
    this.process.kill("SIGSTOP");
    const pid = String(this.process.pid);
    await eventually(
      async () => {
        const { code, stdout } = await run("ps", ["-L", "-o", "stat=", "-p", pid]);
        const states = stdout.split("\n").filter((line) => line.trim() !== "");
        // T is the state of a thread stopped by a signal.
        return code === 0 && states.length > 0 &&
          states.every((line) => line.trim().startsWith("T"));
      },
      `every thread of server ${pid} to stop after SIGSTOP`,
      timeoutMs,
    );
  }

  /**
   * The exit status, once the process ends; the log is complete by then.
   * Throws, with the log, if it is still running after `timeoutMs`.
   */
  async exited(timeoutMs = EXIT_TIMEOUT_MS): Promise<Deno.CommandStatus> {
    this.#status ??= this.process.status;
    const status = await within(
      this.#status,
      timeoutMs,
      () => `the server to exit; its log:\n${this.log.join("\n")}`,
    );
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
        throw new Error(
          `waited ${timeoutMs} ms for a log line matching ${pattern}; the log:\n${
            this.log.join("\n")
          }`,
        );
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
    }, KILL_AFTER_MS);
    await this.exited(KILL_AFTER_MS + EXIT_TIMEOUT_MS);
    clearTimeout(timer);
    if (this.#ownsDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
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
    SERVER,
    "--port",
    "0",
    ...args,
  ]);
}

/** The base URL (`http://127.0.0.1:P`) of a server's `--metrics-port`, from its log. */
export function metricsBase(server: TestServer): string {
  const line = server.log.find((l) => l.includes("metrics on ")) ?? "";
  const url = /metrics on (http:\/\/\S+)\/metrics/.exec(line)?.[1];
  if (url === undefined) {
    throw new Error(`no metrics address in the log:\n${server.log.join("\n")}`);
  }
  return url;
}
