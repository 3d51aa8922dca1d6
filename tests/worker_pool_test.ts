/** The worker pool: batches taking turns, failures contained, dead workers replaced, cancellation. */
import { assertEquals, assertGreater, assertLess, assertRejects } from "@std/assert";
import { JobFailedError, JobsCancelledError, PoolFullError, WorkerPool } from "../lib/jobs/pool.ts";
import { localWorkers } from "../lib/worker_thread.ts";

const FAULTY = new URL("./fixtures/faulty_worker.ts", import.meta.url);

function pool(size = 2, deaths: number[] = []) {
  return new WorkerPool<string, string>({
    size,
    spawn: localWorkers(FAULTY),
    onWorkerDeath: (id) => deaths.push(id),
  });
}

/** One worker and a bound on the pending cost. */
function budgetedPool(maxPendingCost: number) {
  return new WorkerPool<string, string>({ size: 1, spawn: localWorkers(FAULTY), maxPendingCost });
}

Deno.test("WorkerPool runs every job of a batch and reports each result", async () => {
  const p = pool();
  try {
    const seen: string[] = [];
    await p.runBatch(20, (i) => `job${i}`, { onResult: (r) => seen.push(r) });
    assertEquals(seen.sort(), Array.from({ length: 20 }, (_, i) => `job${i}`).sort());
    assertEquals(p.stats(), { workers: 2, jobs_total: 20, jobs_running: 0, jobs_queued: 0 });
  } finally {
    p.close();
  }
});

Deno.test("WorkerPool: a job that throws fails only its own batch", async () => {
  const p = pool();
  try {
    await assertRejects(
      () => p.runBatch(3, (i) => i === 1 ? "throw" : "ok"),
      JobFailedError,
      "job failed on purpose",
    );
    const results: string[] = [];
    await p.runBatch(4, () => "fine", { onResult: (r) => results.push(r) });
    assertEquals(results, ["fine", "fine", "fine", "fine"]);
  } finally {
    p.close();
  }
});

Deno.test("WorkerPool replaces a worker that dies and keeps serving", async () => {
  const deaths: number[] = [];
  const p = pool(2, deaths);
  try {
    await assertRejects(() => p.runBatch(1, () => "die"), JobFailedError, "died");
    assertEquals(deaths.length, 1);
    const results: string[] = [];
    await p.runBatch(10, (i) => `after${i}`, { onResult: (r) => results.push(r) });
    assertEquals(results.length, 10);
  } finally {
    p.close();
  }
});

Deno.test("WorkerPool cancellation drops the queued jobs of that batch only", async () => {
  const p = pool(1);
  try {
    const controller = new AbortController();
    const cancelled = p.runBatch(100, () => "slow", { signal: controller.signal });
    const after = p.runBatch(2, () => "next");
    await new Promise((r) => setTimeout(r, 20));
    assertGreater(p.stats().jobs_queued, 90);
    controller.abort();
    await assertRejects(() => cancelled, JobsCancelledError);
    await after;
    assertEquals(p.stats().jobs_queued, 0);
    assertLess(p.stats().jobs_total, 10, "the cancelled jobs never ran");
  } finally {
    p.close();
  }
});

Deno.test("WorkerPool: batches take turns, and a long job gives its worker back between slices", async () => {
  const p = pool(1);
  try {
    const order: string[] = [];
    const long = p.runBatch(2, () => "slices:20", { onResult: () => order.push("long") });
    const short = p.runBatch(1, () => "quick", { onResult: () => order.push("short") });
    await Promise.all([long, short]);
    assertEquals(
      order,
      ["short", "long", "long"],
      "the short batch ran between the long one's slices",
    );
  } finally {
    p.close();
  }
});

Deno.test("WorkerPool: a waiting batch gets its turn before batches that arrive after it, though new ones keep coming", async () => {
  const p = pool(1);
  try {
    // Three clients that each send their next one-job batch as soon as the
    // last is done, as clients looping `COUNT 0 1 10` do. When a new batch
    // started at the head of the queue, a and c took turns ahead of b, which
    // had been waiting since the start, and b ran only once they stopped.
    const order: string[] = [];
    const rounds = 10;
    const looper = async (name: string) => {
      for (let round = 0; round < rounds; round++) {
        await p.runBatch(1, () => name, { onResult: (r) => order.push(r) });
      }
    };
    await Promise.all(["a", "b", "c"].map(looper));
    assertEquals(order, Array.from({ length: rounds }, () => ["a", "b", "c"]).flat());
  } finally {
    p.close();
  }
});

Deno.test("WorkerPool lets in a batch over the pending-cost limit when nothing is pending", async () => {
  const p = budgetedPool(100);
  try {
    const big = p.runBatch(3, () => "slices:5", { cost: 50 });
    assertEquals(p.pendingCost, 150);
    await assertRejects(() => p.runBatch(1, () => "x", { cost: 1 }), PoolFullError, "150 of work");
    await big;
    assertEquals(p.pendingCost, 0);
  } finally {
    p.close();
  }
});

Deno.test("WorkerPool refuses a batch past the pending cost and counts it back as jobs finish", async () => {
  const p = budgetedPool(100);
  try {
    const first = p.runBatch(2, () => "slices:5", { cost: 40 });
    assertEquals(p.pendingCost, 80);
    await assertRejects(() => p.runBatch(1, () => "x", { cost: 30 }), PoolFullError, "80 of work");
    await first;
    assertEquals(p.pendingCost, 0);
    await p.runBatch(1, () => "x", { cost: 30 });
  } finally {
    p.close();
  }
});

Deno.test("WorkerPool refuses a batch past the pending job count, whatever its cost, and lets work-free ones in under it", async () => {
  const p = new WorkerPool<string, string>({
    size: 1,
    spawn: localWorkers(FAULTY),
    maxPendingCost: 100,
    maxPendingJobs: 5,
  });
  try {
    // A batch that fills the work budget.
    const long = p.runBatch(2, () => "slices:5", { cost: 50 });
    // Work-free jobs still fit, as long as their number does.
    const short = p.runBatch(3, () => "x", { cost: 0 });
    await assertRejects(
      () => p.runBatch(1, () => "x", { cost: 0 }),
      PoolFullError,
      "100 of work and 5 jobs",
    );
    await Promise.all([long, short]);
    assertEquals(p.pendingCost, 0);
    await p.runBatch(5, () => "x", { cost: 0 });
  } finally {
    p.close();
  }
});
