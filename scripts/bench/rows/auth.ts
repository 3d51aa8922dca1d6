/**
 * AUTH (docs/protocol.md#limits-and-bad-input: password hashing never runs on the thread that
 * serves connections): a bystander's PING latency while 20 clients send
 * AUTH at once, over and over, against the same bystander alone. Each AUTH
 * is one scrypt (16 MiB, tens of ms) on Deno's blocking thread pool, at
 * most half the cores at once (lib/security/authenticator.ts); what is
 * measured is whether the thread that answers PING feels it. switchboard
 * only, not pinned, like COUNT: the hashing threads take the other core,
 * as they would in production.
 *
 * Then a password spray: one guesser from each of 127.0.0.2 …
 * 127.0.0.60, each guessing a new name after each failure, while a
 * legitimate AUTH from 127.0.0.1 is timed again and again. Every guess is
 * under its address's limits, so only the order of the hashing line
 * (lib/security/hash_queue.ts) keeps the legitimate one's wait bounded.
 */
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import type { Load } from "../load.ts";
import { type BenchRow, count, millis, type Row } from "../row.ts";
import { PING } from "../servers.ts";
import { AuthSpray } from "../peers.ts";
import { median } from "../measure.ts";
import { writeAll } from "../../../lib/io.ts";
import { hashPassword } from "../../../lib/security/password_hash.ts";

/** Clients sending AUTH at once. */
const AUTH_CLIENTS = 20;
/** What "a few ms" is: the bystander's p99 may grow by less than this. */
const P99_GROWTH_TARGET_US = 5_000;
const USER = "bench";
const PASSWORD = "bench password";
/** The spray's source addresses: 127.0.0.2 … 127.0.0.60. */
const SPRAY_ADDRESSES = Array.from({ length: 59 }, (_, i) => `127.0.0.${i + 2}`);
/** Legitimate AUTHs timed alone and during the spray, one after another. */
const SIGN_INS = 10;
/** Pause between two timed sign-ins, so that the spray's line fills again. */
const SIGN_IN_GAP_MS = 200;
/** A legitimate AUTH during the spray may wait this long at most (alone: tens of ms). */
const SPRAYED_WAIT_TARGET_US = 500_000;

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
      progress(`AUTH from 127.0.0.1 during a spray from ${SPRAY_ADDRESSES.length} addresses`);
      const signInAlone = await timeSignIns(server.port);
      const spray = new AuthSpray(server.port, SPRAY_ADDRESSES);
      await waitFor(() => spray.checked >= SPRAY_ADDRESSES.length, "the spray's first guesses");
      const signInSprayed = await timeSignIns(server.port);
      const guesses = await spray.stop();
      const worst = Math.max(...signInSprayed);
      return {
        scenario:
          `PING p99 of a bystander while ${AUTH_CLIENTS} clients AUTH (scrypt); a legitimate AUTH during a spray from ${SPRAY_ADDRESSES.length} addresses`,
        switchboard: `p99 ${millis(busy.p99)} (alone ${millis(alone.p99)}), p50 ${
          millis(busy.p50)
        } (alone ${millis(alone.p50)}); ${count(done / seconds)} AUTH/s; sprayed AUTH p50 ${
          millis(median(signInSprayed))
        }, max ${millis(worst)} (alone p50 ${millis(median(signInAlone))}; ${
          count(guesses)
        } guesses checked)`,
        deno: "",
        node: "",
        ratio: `p99 ${growth >= 0 ? "+" : ""}${millis(growth)}`,
        target: `p99 grows < ${millis(P99_GROWTH_TARGET_US)}; sprayed AUTH < ${
          millis(SPRAYED_WAIT_TARGET_US)
        }`,
        met: growth < P99_GROWTH_TARGET_US && worst < SPRAYED_WAIT_TARGET_US,
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

/** Times {@linkcode SIGN_INS} legitimate AUTHs from 127.0.0.1, each on a new connection, in µs. */
async function timeSignIns(port: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < SIGN_INS; i++) {
    await new Promise((resolve) => setTimeout(resolve, SIGN_IN_GAP_MS));
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const started = performance.now();
      await writeAll(conn, new TextEncoder().encode(`AUTH ${USER} "${PASSWORD}"\n`));
      const reply = new Uint8Array(256);
      const n = await conn.read(reply);
      const text = new TextDecoder().decode(reply.subarray(0, n ?? 0));
      if (!text.startsWith("OK welcome")) throw new Error(`AUTH answered ${text.trim()}`);
      times.push((performance.now() - started) * 1000);
    } finally {
      conn.close();
    }
  }
  return times;
}

/** Polls `ready` every 10 ms for up to 60 s; throws naming `what` if it never holds. */
async function waitFor(ready: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
