/**
 * AUTH (issue 18; docs/protocol.md#limits-and-bad-input: password hashing never runs on the thread that
 * serves connections): a bystander's PING latency while 20 clients send
 * AUTH at once, over and over, against the same bystander alone. Each AUTH
 * is one scrypt (16 MiB, tens of ms) on Deno's blocking thread pool, at
 * most half the cores at once (lib/security/authenticator.ts); what is
 * measured is whether the thread that answers PING feels it. switchboard
 * only, not pinned, like COUNT: the hashing threads take the other core,
 * as they would in production.
 */
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import type { Load } from "../load.ts";
import { type BenchRow, count, millis, type Row } from "../row.ts";
import { PING } from "../servers.ts";
import { writeAll } from "../../../lib/io.ts";
import { hashPassword } from "../../../lib/security/password_hash.ts";

/** Clients sending AUTH at once. */
const AUTH_CLIENTS = 20;
/** What "a few ms" is: the bystander's p99 may grow by less than this. */
const P99_GROWTH_TARGET_US = 5_000;
const USER = "bench";
const PASSWORD = "bench password";

/** AUTH: bystander PING while 20 clients AUTH. */
export const AUTH: BenchRow = {
  id: "AUTH",
  about: `PING p99 of a bystander while ${AUTH_CLIENTS} clients send AUTH`,
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    const dir = await Deno.makeTempDir({ prefix: "switchboard-bench-auth-" });
    try {
      const usersFile = `${dir}/users`;
      await Deno.writeTextFile(usersFile, `${USER} read ${await hashPassword(PASSWORD)}\n`, {
        mode: 0o600,
      });
      progress("PING while AUTH runs");
      await using server = await startServer(context, "switchboard", {
        args: ["--users", usersFile],
        cpu: "unpinned",
      });
      const bystander: Load = { connections: 1, cpu: "unpinned", ...PING.switchboard };
      const alone = await runLoad(context, server, bystander);
      const signIns = new AuthLoad(server.port);
      const busy = await runLoad(context, server, bystander);
      const { done, seconds } = await signIns.stop();
      const growth = busy.p99 - alone.p99;
      return {
        scenario: `PING p99 of a bystander while ${AUTH_CLIENTS} clients AUTH (scrypt)`,
        switchboard: `p99 ${millis(busy.p99)} (alone ${millis(alone.p99)}), p50 ${
          millis(busy.p50)
        } (alone ${millis(alone.p50)}); ${count(done / seconds)} AUTH/s`,
        deno: "",
        node: "",
        ratio: `p99 ${growth >= 0 ? "+" : ""}${millis(growth)}`,
        target: `p99 grows < ${millis(P99_GROWTH_TARGET_US)}`,
        met: growth < P99_GROWTH_TARGET_US,
      };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
};

/** Clients that send AUTH, one at a time each, until stopped; counts the welcomes. */
class AuthLoad {
  #stopping = false;
  #done = 0;
  readonly #started = performance.now();
  readonly #clients: Promise<void>[];

  constructor(port: number) {
    this.#clients = Array.from({ length: AUTH_CLIENTS }, () => this.#client(port));
  }

  async #client(port: number): Promise<void> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const request = new TextEncoder().encode(`AUTH ${USER} "${PASSWORD}"\n`);
    const reply = new Uint8Array(256);
    try {
      while (!this.#stopping) {
        await writeAll(conn, request);
        const n = await conn.read(reply);
        if (n === null) throw new Error("the server closed an AUTH connection");
        const text = new TextDecoder().decode(reply.subarray(0, n));
        if (!text.startsWith("OK welcome")) throw new Error(`AUTH answered ${text.trim()}`);
        this.#done++;
      }
    } finally {
      conn.close();
    }
  }

  /** Stops after the AUTHs in flight; how many succeeded, over how many seconds. */
  async stop(): Promise<{ done: number; seconds: number }> {
    this.#stopping = true;
    await Promise.all(this.#clients);
    return { done: this.#done, seconds: (performance.now() - this.#started) / 1000 };
  }
}
