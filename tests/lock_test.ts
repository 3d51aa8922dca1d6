/** The locks: the async Mutex and Semaphore, and the cross-thread AtomicMutex. */
import { assertEquals, assertLess, assertRejects, assertThrows } from "@std/assert";
import { AtomicMutex, Mutex, Semaphore } from "../lib/lock.ts";

const WORKER = new URL("./fixtures/lock_worker.ts", import.meta.url);

async function hammer(
  workers: number,
  rounds: number,
  locked: boolean,
  cells: Int32Array,
): Promise<void> {
  const pool = Array.from({ length: workers }, () => new Worker(WORKER, { type: "module" }));
  try {
    await Promise.all(pool.map((worker) =>
      new Promise<void>((resolve, reject) => {
        worker.onmessage = () => resolve();
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(event.message));
        };
        worker.postMessage({ cells, rounds, locked });
      })
    ));
  } finally {
    for (const worker of pool) worker.terminate();
  }
}

Deno.test("AtomicMutex keeps a non-atomic read-modify-write exact across many workers", async () => {
  const cells = new Int32Array(new SharedArrayBuffer(12));
  await hammer(6, 20_000, true, cells);
  assertEquals(cells[1], 6 * 20_000);
  assertEquals(cells[0], 0, "the lock is free at the end");
});

Deno.test("without the AtomicMutex the same workers lose updates (why the lock exists)", async () => {
  const cells = new Int32Array(new SharedArrayBuffer(12));
  await hammer(6, 20_000, false, cells);
  assertLess(cells[1]!, 6 * 20_000, `expected lost updates, got all ${cells[1]}`);
});

Deno.test("AtomicMutex lockAsync on the main thread excludes workers without blocking the event loop", async () => {
  const cells = new Int32Array(new SharedArrayBuffer(12));
  const mutex = new AtomicMutex(cells, 0);
  const workers = hammer(4, 20_000, true, cells);
  let mainIncrements = 0;
  const main = (async () => {
    for (let i = 0; i < 300; i++) {
      await mutex.lockAsync();
      const before = cells[1]!;
      await Promise.resolve(); // yield while holding the lock: still exclusive
      cells[1] = before + 1;
      mutex.unlock();
      mainIncrements++;
    }
  })();
  await Promise.all([workers, main]);
  assertEquals(cells[1], 4 * 20_000 + mainIncrements);
});

Deno.test("AtomicMutex lockAsync waits for the holder without blocking timers", async () => {
  const cells = new Int32Array(new SharedArrayBuffer(4));
  const mutex = new AtomicMutex(cells, 0);
  await mutex.lockAsync();
  let acquired = false;
  const second = mutex.lockAsync().then(() => acquired = true);
  // The event loop keeps running while the second waiter sleeps.
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(acquired, false, "the lock is still held");
  mutex.unlock();
  await second;
  assertEquals(acquired, true);
  mutex.unlock();
  assertEquals(cells[0], 0);
});

Deno.test("AtomicMutex refuses memory that is not shared", () => {
  assertThrows(() => new AtomicMutex(new Int32Array(1)), TypeError, "SharedArrayBuffer");
});

Deno.test("Mutex hands the lock over in FIFO order and excludes across awaits", async () => {
  const mutex = new Mutex();
  const order: number[] = [];
  let inside = 0;
  await Promise.all([1, 2, 3, 4].map((n) =>
    mutex.run(async () => {
      inside++;
      assertEquals(inside, 1);
      await new Promise((r) => setTimeout(r, 5 - n));
      order.push(n);
      inside--;
    })
  ));
  assertEquals(order, [1, 2, 3, 4]);
  assertEquals(mutex.locked, false);
});

Deno.test("Semaphore lets `permits` tasks in at once and the rest in FIFO order", async () => {
  const semaphore = new Semaphore(2);
  const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
  const started: number[] = [];
  const done = gates.map((gate, i) =>
    semaphore.run(async () => {
      started.push(i);
      await gate.promise;
    })
  );
  await Promise.resolve();
  assertEquals([started, semaphore.waiting], [[0, 1], 3]);
  gates[1]!.resolve();
  await done[1];
  assertEquals(started, [0, 1, 2]);
  gates[0]!.resolve();
  await done[0];
  assertEquals(started, [0, 1, 2, 3]);
  for (const gate of gates) gate.resolve();
  await Promise.all(done);
  assertEquals([started, semaphore.waiting], [[0, 1, 2, 3, 4], 0]);
});

Deno.test("Semaphore frees the permit of a task that throws", async () => {
  const semaphore = new Semaphore(1);
  await assertRejects(() => semaphore.run(() => Promise.reject(new Error("boom"))), Error, "boom");
  assertEquals(await semaphore.run(() => 42), 42);
  assertThrows(() => new Semaphore(0), RangeError);
});

Deno.test("Semaphore.acquire holds a permit until its release, which counts once", async () => {
  const semaphore = new Semaphore(1);
  const release = await semaphore.acquire();
  let second = false;
  const next = semaphore.acquire().then((r) => {
    second = true;
    return r;
  });
  await Promise.resolve();
  assertEquals([second, semaphore.waiting], [false, 1]);
  release();
  release(); // a second call must not free a permit nobody holds
  const releaseNext = await next;
  assertEquals(second, true);
  let third = false;
  const last = semaphore.acquire().then(() => third = true);
  await new Promise((r) => setTimeout(r, 10));
  assertEquals(third, false);
  releaseNext();
  await last;
});
