/**
 * The servers under test: switchboard (this checkout's server.ts), the
 * compare checkout's server.ts (--compare), and the two reference echoes
 * of scripts/bench/ (a plain `Deno.listen` echo and a Node `net` echo).
 * Each measurement gets a fresh process on its own port and scratch
 * directory, pinned to CPU 0 where the machine pins.
 */
import { SERVER_RUN_FLAGS } from "../../lib/server/environment.ts";
import {
  type Cpu,
  DENO,
  freePort,
  type Machine,
  pinned,
  REPO_ROOT,
  waitListening,
} from "./system.ts";

/** A column of the table: who answers the load. */
export type ServerKind = "switchboard" | "compare" | "deno" | "node";

/** The request every server answers, and its reply: switchboard PONGs, the echoes echo. */
export const PING: Record<ServerKind, { request: string; expect: string }> = {
  switchboard: { request: "PING", expect: "OK PONG" },
  compare: { request: "PING", expect: "OK PONG" },
  deno: { request: "PING", expect: "PING" },
  node: { request: "PING", expect: "PING" },
};

/** The permissions of `deno task server`; a compare checkout runs with the same. */
export const SERVER_FLAGS = ["--no-prompt", ...SERVER_RUN_FLAGS];
/** The CPU servers run on where the machine pins; loads take the other one. */
export const SERVER_CPU = 0;
/** A server still running this long after SIGTERM is killed. */
const STOP_GRACE_MS = 15_000;

/** Where a server runs: the machine, and the compare checkout if there is one. */
export interface ServerPlace {
  machine: Machine;
  /** Absolute path of the --compare checkout. */
  compare: string | undefined;
}

/** How a server is started: switchboard's own options, and its CPU (default SERVER_CPU). */
export interface StartOptions {
  /** Arguments for switchboard and compare (the echoes take none). */
  args?: string[];
  cpu?: Cpu;
  /** Runs before the server starts, with its scratch directory (`data/`, `files/` inside). */
  prepare?: (dir: string) => Promise<void>;
  /**
   * A command that execs the server (its process id stays the server's),
   * e.g. `["prlimit", "--nofile=1024:1024"]` for a lower descriptor limit.
   */
  wrap?: string[];
}

/** A server under test, on its own fresh port and scratch directory; `await using` stops it. */
export class BenchServer {
  private constructor(
    readonly kind: ServerKind,
    readonly port: number,
    readonly process: Deno.ChildProcess,
    readonly dir: string,
  ) {}

  /** The server's process id, for its CPU and memory readings. */
  get pid(): number {
    return this.process.pid;
  }

  /** Starts a `kind` server and waits until it listens. */
  static async start(
    place: ServerPlace,
    kind: ServerKind,
    options: StartOptions = {},
  ): Promise<BenchServer> {
    const port = freePort();
    const dir = await Deno.makeTempDir({ prefix: "switchboard-bench-" });
    await options.prepare?.(dir);
    const asked = options.args ?? [];
    // One network thread unless a row asks for more: the rows pinned to one
    // core measure per-core efficiency (rows/threads.ts measures --threads 2).
    // A --compare checkout keeps its own default, which may not know --threads.
    const threads = kind === "switchboard" && !asked.includes("--threads")
      ? ["--threads", "1"]
      : [];
    const checkoutServer = (root: string): [string, string[]] => [DENO, [
      "run",
      ...SERVER_FLAGS,
      `${root}/server.ts`,
      "--port",
      String(port),
      "-q",
      "--data",
      `${dir}/data`,
      "--root",
      `${dir}/files`,
      ...threads,
      ...asked,
    ]];
    const command: Record<ServerKind, () => [string, string[]]> = {
      switchboard: () => checkoutServer(REPO_ROOT),
      compare: () => {
        if (place.compare === undefined) throw new TypeError("no --compare checkout to start");
        return checkoutServer(place.compare);
      },
      deno: () => [DENO, [
        "run",
        "--allow-net",
        `${REPO_ROOT}/scripts/bench/deno_echo.ts`,
        String(port),
      ]],
      node: () => ["node", [`${REPO_ROOT}/scripts/bench/node_echo.mjs`, String(port)]],
    };
    const [server, serverArgs] = command[kind]();
    const [cmd, args] = pinned(
      place.machine,
      options.cpu ?? SERVER_CPU,
      options.wrap === undefined
        ? [server, serverArgs]
        : [options.wrap[0]!, [...options.wrap.slice(1), server, ...serverArgs]],
    );
    const process = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    try {
      await waitListening(port, process);
    } catch (error) {
      await new BenchServer(kind, port, process, dir).stop();
      throw error;
    }
    return new BenchServer(kind, port, process, dir);
  }

  /** SIGTERM, SIGKILL after STOP_GRACE_MS; then the scratch directory goes. */
  async stop(): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        this.process.kill("SIGKILL");
      } catch { /* gone */ }
    }, STOP_GRACE_MS);
    await this.process.status;
    clearTimeout(timer);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Stops the server (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
