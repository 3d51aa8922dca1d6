/**
 * ClientHandler with a connection played by the test: what happens when
 * the peer takes no bytes at all, which a real socket shows only once its
 * buffers are full; and how long one connection's turn lasts.
 */
import { assertEquals, assertGreaterOrEqual, assertLess } from "@std/assert";
import type { Command } from "../lib/commands/command.ts";
import { ok, ProtocolError } from "../lib/protocol/mod.ts";
import { deadline } from "@std/async/deadline";
import { CommandTable } from "../lib/commands/mod.ts";
import { Logger } from "../lib/server/log.ts";
import { ClientHandler, type PeerConn } from "../lib/server/connection/client_handler.ts";
import { Stats } from "../lib/server/observability/stats.ts";
import { eventually } from "./helpers.ts";
import { testContext } from "./context.ts";

/** A peer that sends nothing and never takes a byte: reads and writes wait until close. */
class StuckPeer implements PeerConn {
  closed = false;
  readonly #waiting: Array<(error: Error) => void> = [];

  read(): Promise<number | null> {
    return this.#park();
  }

  write(p: Uint8Array): Promise<number> {
    return p.length === 0 ? Promise.resolve(0) : this.#park();
  }

  close(): void {
    this.closed = true;
    for (const fail of this.#waiting.splice(0)) fail(new Deno.errors.BadResource("closed"));
  }

  #park<T>(): Promise<T> {
    return new Promise<T>((_, reject) => this.#waiting.push(reject));
  }
}

function handlerOptions(commands: CommandTable) {
  return {
    maxLine: 1024,
    idleTimeoutMs: 50,
    requestTimeoutMs: 0,
    minRate: 0,
    echo: false,
    commands,
    services: testContext().services,
    logger: new Logger(),
    stats: new Stats(),
  };
}

Deno.test("a peer that takes no bytes is closed after its idle timeout line cannot be written", async () => {
  const peer = new StuckPeer();
  const handler = new ClientHandler(
    peer,
    { hostname: "127.0.0.1", port: 1 },
    handlerOptions(new CommandTable()),
  );
  const served = handler.run();
  // The sweep sees it waiting, and a minute on finds it idle; its `ERR timeout` line can never be written.
  handler.checkTimeouts(Date.now());
  handler.checkTimeouts(Date.now() + 60_000);
  await eventually(() => peer.closed, "the handler closing the stuck peer", 5_000);
  await served;
  assertEquals(handler.state, "closed");
});

/** A peer that sends `input` at once, takes every reply, then waits until close. */
class PipeliningPeer implements PeerConn {
  readonly #input: Uint8Array;
  #sent = false;
  #closed: Promise<void>;
  #close!: () => void;

  constructor(input: string) {
    this.#input = new TextEncoder().encode(input);
    this.#closed = new Promise((resolve) => this.#close = resolve);
  }

  async read(p: Uint8Array): Promise<number | null> {
    if (this.#sent) return await this.#closed.then(() => null);
    this.#sent = true;
    p.set(this.#input);
    return this.#input.length;
  }

  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(p.length);
  }

  close(): void {
    this.#close();
  }
}

Deno.test("a pipeline of costly requests gives the other connections a turn before it is all answered", async () => {
  let answered = 0;
  // A synchronous command costing 2 ms of the serving thread, as a CALC on huge numbers does.
  const slow: Command = {
    name: "SLOW",
    usage: ["SLOW"],
    summary: "costs 2 ms",
    run: () => {
      const until = performance.now() + 2;
      while (performance.now() < until) { /* the cost */ }
      answered++;
      return ok();
    },
  };
  const peer = new PipeliningPeer("SLOW\n".repeat(40) + "QUIT\n");
  const handler = new ClientHandler(
    peer,
    { hostname: "127.0.0.1", port: 1 },
    handlerOptions(
      new CommandTable([slow, ...new CommandTable().all.filter((c) => c.name !== "HELP")]),
    ),
  );
  // How many were answered when another connection's turn (the next round
  // of the event loop) came; -1 if it never came while the pipeline ran.
  let answeredBeforeOthers = -1;
  setTimeout(() => answeredBeforeOthers = answered, 0);
  await handler.run();
  assertEquals(answered, 40);
  // -1: the other connections got no turn until all 40 (80 ms of work) were answered.
  assertGreaterOrEqual(answeredBeforeOthers, 0, "the others had a turn while it was answered");
  assertLess(answeredBeforeOthers, 10, "the others had a turn within a few requests");
});

/** A peer that sends `input` at once and resets the connection on the first reply written to it. */
class ResettingPeer extends PipeliningPeer {
  override write(): Promise<number> {
    return Promise.reject(new Deno.errors.ConnectionReset("connection reset by peer"));
  }
}

Deno.test("a command that fails after the peer reset during the flush before it is no unhandled rejection", async () => {
  const unhandled: unknown[] = [];
  const record = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    unhandled.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", record);
  try {
    let failed!: () => void;
    const failedLater = new Promise<void>((resolve) => failed = resolve);
    // As KV GET of a missing key: answers later, with an error.
    const missing: Command = {
      name: "MISSING",
      usage: ["MISSING"],
      summary: "fails later",
      run: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        failed();
        throw new ProtocolError("not-found", "no key x");
      },
    };
    // PING's reply is pending when MISSING starts, so it is flushed first: into the reset.
    const peer = new ResettingPeer("PING\nMISSING\n");
    const handler = new ClientHandler(
      peer,
      { hostname: "127.0.0.1", port: 1 },
      handlerOptions(
        new CommandTable([missing, ...new CommandTable().all.filter((c) => c.name !== "HELP")]),
      ),
    );
    await handler.run();
    await deadline(failedLater, 5_000);
    // Rejections are reported after the microtasks of the turn that made them.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(unhandled, [], "no rejection left unhandled");
    assertEquals(handler.state, "closed");
  } finally {
    globalThis.removeEventListener("unhandledrejection", record);
  }
});
