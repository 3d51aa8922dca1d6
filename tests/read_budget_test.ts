/** The read quantum: busy readers pause together after a quantum, then go on. */
import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { ReadBudget } from "../lib/read_budget.ts";

/** An idle step the test finishes by hand. */
function manualIdle(): { idle: () => Promise<unknown>; finish: () => void; started: () => number } {
  let finish = () => {};
  let started = 0;
  return {
    idle: () => {
      started++;
      return new Promise<void>((resolve) => finish = resolve);
    },
    finish: () => finish(),
    started: () => started,
  };
}

/** The pause `take()` must return now. */
function mustPause(budget: ReadBudget): Promise<void> {
  const pause = budget.take();
  if (pause === undefined) throw new Error("expected a pause, the reader was let through");
  return pause;
}

Deno.test("a reader within the quantum reads at once, with no promise to await", () => {
  const step = manualIdle();
  const budget = new ReadBudget(4, step.idle);
  for (let i = 0; i < 3; i++) assertEquals(budget.take(), undefined);
  assertEquals(step.started(), 0);
});

Deno.test("once the quantum is spent every reader waits on the same pause until it is over", async () => {
  const step = manualIdle();
  const budget = new ReadBudget(3, step.idle);
  budget.take();
  budget.take();
  const pause = mustPause(budget);
  assertStrictEquals(budget.take(), pause, "a second reader joins the pause already under way");
  assertEquals(step.started(), 1);
  let over = false;
  pause.then(() => over = true);
  await Promise.resolve();
  assertEquals(over, false, "the pause lasts until the idle step completes");
  step.finish();
  await pause;
  assertEquals(budget.pauses, 1);
  assertEquals(budget.take(), undefined, "a full quantum again after the pause");
  assertEquals(budget.take(), undefined);
  mustPause(budget);
  assertEquals(step.started(), 2);
});

Deno.test("a failing idle step still ends the pause", async () => {
  const budget = new ReadBudget(1, () => Promise.reject(new Error("no thread pool")));
  await mustPause(budget);
  mustPause(budget); // the next quantum (of one) starts a new pause
});

Deno.test("the default pause completes, so readers are never stuck", async () => {
  const budget = new ReadBudget(1);
  await budget.take();
  await budget.take();
  assertEquals(budget.pauses, 2);
});

Deno.test("a quantum must be a positive integer", () => {
  assertThrows(() => new ReadBudget(0), RangeError);
  assertThrows(() => new ReadBudget(1.5), RangeError);
});
