/**
 * Unit tests of the Manager across threads: Managers that share one
 * SharedAdmission, as the network threads do (lib/server/admission/shared_admission.ts).
 * Both run on the test's thread here; the grants still travel through
 * Atomics.waitAsync, as between threads.
 */
import { assertEquals } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { Logger } from "../lib/server/log.ts";
import { type ManagedHandler, Manager } from "../lib/server/admission/manager.ts";
import { SharedAdmission } from "../lib/server/admission/shared_admission.ts";
import type { LineReply } from "../lib/protocol/mod.ts";
import { Stats } from "../lib/server/observability/stats.ts";

const events: string[] = [];

class FakeClient implements ManagedHandler {
  refused: LineReply | undefined;
  started = Promise.withResolvers<void>();
  leave: (() => void) | undefined;
  #finish: () => void = () => {};

  constructor(readonly name: string, readonly address = "10.0.0.1") {}

  enqueued(leave: () => void): void {
    this.leave = leave;
  }

  run(): Promise<void> {
    events.push(`start ${this.name}`);
    this.started.resolve();
    return new Promise((resolve) => this.#finish = resolve);
  }

  refuse(reply: LineReply): void {
    this.refused = reply;
    events.push(`refused ${this.name}`);
  }

  shutdown(): void {}

  abort(): void {
    this.#finish();
  }

  finish(): void {
    this.#finish();
  }
}

/** `threads` Managers over one shared state. */
function managers(
  threads: number,
  limits: { maxRunning: number; queueLimit?: number; maxPerIp?: number },
) {
  events.length = 0;
  const admission = SharedAdmission.create({
    maxRunning: limits.maxRunning,
    queueLimit: limits.queueLimit ?? 100,
    maxPerIp: limits.maxPerIp ?? 0,
    threads,
  });
  return Array.from({ length: threads }, (_, thread) =>
    new Manager<FakeClient>({
      maxRunning: limits.maxRunning,
      shared: { admission, thread },
      stats: new Stats(),
      logger: new Logger(),
    }));
}

function started(client: FakeClient): Promise<void> {
  return deadline(client.started.promise, 2000).catch(() => {
    throw new Error(`client ${client.name} was not started within 2 s; events: ${events}`);
  });
}

Deno.test("a slot freed on one thread goes to the oldest waiter of any thread", async () => {
  const [m0, m1] = managers(2, { maxRunning: 1 }) as [Manager<FakeClient>, Manager<FakeClient>];
  const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => new FakeClient(n)) as FakeClient[];
  assertEquals(m0.admit(a!), "running");
  assertEquals(m1.admit(b!), "queued");
  assertEquals(m0.admit(c!), "queued");
  assertEquals(m1.admit(d!), "queued");
  assertEquals([m0.running, m0.queued, m1.running, m1.queued], [1, 3, 1, 3]);
  a!.finish();
  await started(b!);
  b!.finish();
  await started(c!);
  c!.finish();
  await started(d!);
  assertEquals(events, ["start a", "start b", "start c", "start d"]);
  m0.close();
  m1.close();
});

Deno.test("a newcomer never overtakes a waiter on another thread", async () => {
  const [m0, m1] = managers(2, { maxRunning: 1 }) as [Manager<FakeClient>, Manager<FakeClient>];
  const [a, b, c] = ["a", "b", "c"].map((n) => new FakeClient(n)) as FakeClient[];
  m0.admit(a!);
  m1.admit(b!);
  a!.finish();
  // The slot is b's (granted, not yet picked up by its thread): c must queue.
  await Promise.resolve();
  assertEquals(m0.admit(c!), "queued");
  await started(b!);
  assertEquals(events, ["start a", "start b"]);
  m0.close();
  m1.close();
});

Deno.test("a waiter that leaves after its grant passes the slot on", async () => {
  const [m0, m1] = managers(2, { maxRunning: 1 }) as [Manager<FakeClient>, Manager<FakeClient>];
  const [a, b, c] = ["a", "b", "c"].map((n) => new FakeClient(n)) as FakeClient[];
  m0.admit(a!);
  m1.admit(b!);
  m0.admit(c!);
  a!.finish();
  await Promise.resolve();
  // b hangs up before its thread has seen the grant.
  b!.leave!();
  await started(c!);
  assertEquals(events, ["start a", "start c"]);
  assertEquals([m0.running, m0.queued], [1, 0]);
  m0.close();
  m1.close();
});

Deno.test("the per-address limit counts every thread's connections", async () => {
  const [m0, m1] = managers(2, { maxRunning: 4, maxPerIp: 2 }) as [
    Manager<FakeClient>,
    Manager<FakeClient>,
  ];
  const a = new FakeClient("a", "10.0.0.1");
  assertEquals(m0.admit(a), "running");
  assertEquals(m1.admit(new FakeClient("b", "10.0.0.1")), "running");
  const third = new FakeClient("c", "10.0.0.1");
  assertEquals(m1.admit(third), "rejected");
  assertEquals(third.refused, {
    kind: "err",
    code: "busy",
    message: "too many connections from your address",
  });
  assertEquals(m1.admit(new FakeClient("d", "10.0.0.2")), "running");
  a.finish();
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(m1.admit(new FakeClient("e", "10.0.0.1")), "running");
  m0.close();
  m1.close();
});

Deno.test("the per-address table forgets addresses and keeps the others findable", () => {
  const [m] = managers(1, { maxRunning: 1000, maxPerIp: 1 }) as [Manager<FakeClient>];
  const clients = Array.from(
    { length: 300 },
    (_, i) => new FakeClient(`c${i}`, `10.0.${i >> 8}.${i & 255}`),
  );
  for (const client of clients) assertEquals(m.admit(client), "running");
  // Finishing every other one removes entries from the middle of probe chains.
  for (const [i, client] of clients.entries()) if (i % 2 === 0) client.finish();
  return new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => {
    for (const [i, client] of clients.entries()) {
      const again = new FakeClient(`again${i}`, client.address);
      assertEquals(m.admit(again), i % 2 === 0 ? "running" : "rejected", client.address);
    }
    m.close();
  });
});

Deno.test("shutdown on one thread stops admission on every thread", () => {
  const [m0, m1] = managers(2, { maxRunning: 1 }) as [Manager<FakeClient>, Manager<FakeClient>];
  m0.admit(new FakeClient("a"));
  const queued = new FakeClient("b");
  m1.admit(queued);
  m0.shutdown();
  const late = new FakeClient("late");
  assertEquals(m1.admit(late), "rejected");
  assertEquals(late.refused, { kind: "err", code: "shutdown", message: "server is shutting down" });
  m1.shutdown();
  assertEquals(queued.refused, {
    kind: "err",
    code: "shutdown",
    message: "server is shutting down",
  });
  assertEquals(m0.queued, 0);
  m0.close();
  m1.close();
});

Deno.test("connection ids are unique and increasing across threads", () => {
  const [m0, m1] = managers(2, { maxRunning: 1 }) as [Manager<FakeClient>, Manager<FakeClient>];
  assertEquals([m0.nextId(), m1.nextId(), m0.nextId()], [1, 2, 3]);
  m0.close();
  m1.close();
});
