/** Unit tests of the Manager with fake clients: order, limits, timeouts, hang-ups, shutdown. */
import { assertEquals } from "@std/assert";
import { Logger } from "../lib/server/log.ts";
import { type ManagedHandler, Manager } from "../lib/server/admission/manager.ts";
import type { LineReply } from "../lib/protocol/mod.ts";
import { Stats } from "../lib/server/observability/stats.ts";

/** A client whose run() lasts until the test calls finish(). */
class FakeClient implements ManagedHandler {
  static events: string[] = [];
  refused: LineReply | undefined;
  started = false;
  stopping = false;
  aborted = false;
  leave: (() => void) | undefined;
  #finish: () => void = () => {};

  constructor(readonly name: string, readonly address = "10.0.0.1") {}

  enqueued(leave: () => void): void {
    this.leave = leave;
    FakeClient.events.push(`queued ${this.name}`);
  }

  run(): Promise<void> {
    this.started = true;
    FakeClient.events.push(`start ${this.name}`);
    return new Promise((resolve) => this.#finish = resolve);
  }

  refuse(reply: LineReply): void {
    this.refused = reply;
    FakeClient.events.push(`refused ${this.name}`);
  }

  shutdown(): void {
    this.stopping = true;
  }

  abort(): void {
    this.aborted = true;
    this.#finish();
  }

  finish(): void {
    FakeClient.events.push(`finish ${this.name}`);
    this.#finish();
  }
}

function manager(options: Partial<ConstructorParameters<typeof Manager>[0]> = {}) {
  FakeClient.events = [];
  const stats = new Stats();
  return {
    stats,
    manager: new Manager<FakeClient>({ maxRunning: 1, stats, logger: new Logger(), ...options }),
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("Manager starts the next queued client when a slot frees, in FIFO order", async () => {
  const { manager: m, stats } = manager({ maxRunning: 2 });
  const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => new FakeClient(n)) as FakeClient[];
  assertEquals([m.admit(a!), m.admit(b!), m.admit(c!), m.admit(d!)], [
    "running",
    "running",
    "queued",
    "queued",
  ]);
  assertEquals([m.running, m.queued], [2, 2]);
  b!.finish();
  await tick();
  assertEquals(c!.started, true);
  assertEquals(d!.started, false);
  a!.finish();
  await tick();
  assertEquals(d!.started, true);
  assertEquals(FakeClient.events, [
    "start a",
    "start b",
    "queued c",
    "queued d",
    "finish b",
    "start c",
    "finish a",
    "start d",
  ]);
  assertEquals(stats.served_total, 2);
  assertEquals(stats.accepted_total, 4);
});

Deno.test("Manager refuses newcomers with ERR busy once the queue is full", () => {
  const { manager: m, stats } = manager({ queueLimit: 1 });
  const clients = ["a", "b", "c"].map((n) => new FakeClient(n));
  assertEquals(clients.map((c) => m.admit(c)), ["running", "queued", "rejected"]);
  assertEquals(clients[2]!.refused, {
    kind: "err",
    code: "busy",
    message: "server full (1 running, 1 queued)",
  });
  assertEquals([stats.accepted_total, stats.rejected_total], [3, 1]);
});

Deno.test("Manager checks the per-address limit before the queue limit", () => {
  const { manager: m } = manager({ queueLimit: 0, maxPerIp: 1 });
  m.admit(new FakeClient("a", "10.0.0.1"));
  const same = new FakeClient("b", "10.0.0.1");
  m.admit(same);
  assertEquals(same.refused, {
    kind: "err",
    code: "busy",
    message: "too many connections from your address",
  });
  const other = new FakeClient("c", "10.0.0.2");
  m.admit(other);
  assertEquals(other.refused, {
    kind: "err",
    code: "busy",
    message: "server full (1 running, 0 queued)",
  });
});

Deno.test("Manager frees the per-address count when clients finish or leave", async () => {
  const { manager: m } = manager({ maxRunning: 1, maxPerIp: 2 });
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  m.admit(a);
  m.admit(b);
  assertEquals(m.admit(new FakeClient("c")), "rejected");
  b.leave!();
  assertEquals(m.admit(new FakeClient("d")), "queued");
  a.finish();
  await tick();
  assertEquals(m.admit(new FakeClient("e")), "queued");
});

Deno.test("Manager counts IPv6 clients per /64 and IPv4 clients per address for max-per-ip", () => {
  const { manager: m } = manager({ maxRunning: 10, maxPerIp: 2 });
  assertEquals(m.admit(new FakeClient("a", "2001:db8:1:2::1")), "running");
  // Another address of the same /64, spelled differently: the same network.
  assertEquals(m.admit(new FakeClient("b", "2001:0db8:0001:0002:ffff::9")), "running");
  const third = new FakeClient("c", "2001:db8:1:2:abcd::1");
  assertEquals(m.admit(third), "rejected");
  assertEquals(
    third.refused?.kind === "err" && third.refused.message,
    "too many connections from your address",
  );
  // The next /64 over is someone else.
  assertEquals(m.admit(new FakeClient("d", "2001:db8:1:3::1")), "running");
  // IPv4, also as a dual-stack listener reports it (mapped), counts per address.
  assertEquals(m.admit(new FakeClient("e", "10.0.0.1")), "running");
  assertEquals(m.admit(new FakeClient("f", "::ffff:10.0.0.1")), "running");
  assertEquals(m.admit(new FakeClient("g", "10.0.0.1")), "rejected");
  assertEquals(m.admit(new FakeClient("h", "10.0.0.2")), "running");
});

Deno.test("Manager drops a queued client that hangs up; it never takes a slot", async () => {
  const { manager: m } = manager();
  const [a, b, c] = ["a", "b", "c"].map((n) => new FakeClient(n)) as FakeClient[];
  m.admit(a!);
  m.admit(b!);
  m.admit(c!);
  b!.leave!();
  assertEquals(m.queued, 1);
  a!.finish();
  await tick();
  assertEquals(b!.started, false);
  assertEquals(c!.started, true);
});

Deno.test("Manager times out a client that waits longer than the queue timeout", async () => {
  const { manager: m, stats } = manager({ queueTimeoutMs: 20 });
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  m.admit(a);
  m.admit(b);
  await new Promise((r) => setTimeout(r, 60));
  assertEquals(b.refused, {
    kind: "err",
    code: "timeout",
    message: "waited 0.02 s for a free slot",
  });
  assertEquals([m.queued, stats.timeouts_total], [0, 1]);
  a.finish();
  await tick();
  assertEquals(b.started, false);
});

Deno.test("Manager shutdown refuses the queue, asks running clients to stop, and reports idle", async () => {
  const { manager: m } = manager();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  m.admit(a);
  m.admit(b);
  m.shutdown();
  assertEquals(b.refused, { kind: "err", code: "shutdown", message: "server is shutting down" });
  assertEquals(a.stopping, true);
  const late = new FakeClient("late");
  assertEquals(m.admit(late), "rejected");
  let idle = false;
  m.whenIdle().then(() => idle = true);
  await tick();
  assertEquals(idle, false);
  a.finish();
  await tick();
  assertEquals(idle, true);
});

Deno.test("Manager survives a client whose run() throws", async () => {
  const { manager: m } = manager();
  const bad = new FakeClient("bad");
  bad.run = () => {
    throw new Error("boom");
  };
  const next = new FakeClient("next");
  m.admit(bad);
  m.admit(next);
  await tick();
  assertEquals(next.started, true);
});
