/**
 * Unit tests of how errors cross between the hub and a network thread
 * (lib/server/thread_messages.ts): each one a command branches on comes back
 * as its own class, with what its reply needs.
 */
import { assertEquals, assertInstanceOf } from "@std/assert";
import { JobFailedError, JobsCancelledError, PoolFullError } from "../lib/jobs/pool.ts";
import { carryError, rebuildError } from "../lib/server/thread_messages.ts";
import { NotAnIntegerError, ValueTooLargeError } from "../lib/stores/kv_store.ts";
import { StoreUnreachableError } from "../lib/stores/store.ts";

/** `error` after a trip through structured clone, as a message between threads makes. */
function across(error: unknown): Error {
  return rebuildError(structuredClone(carryError(error)));
}

Deno.test("errors the commands branch on keep their class and fields across threads", () => {
  const full = across(new PoolFullError(60_000, 12)) as PoolFullError;
  assertInstanceOf(full, PoolFullError);
  assertEquals([full.pendingCost, full.pendingJobs], [60_000, 12]);
  const failed = across(
    new JobFailedError("EMFILE: too many open files", "EMFILE"),
  ) as JobFailedError;
  assertInstanceOf(failed, JobFailedError);
  assertEquals(failed.code, "EMFILE");
  assertInstanceOf(across(new JobsCancelledError("cancelled")), JobsCancelledError);
  assertInstanceOf(across(new NotAnIntegerError("not an integer")), NotAnIntegerError);
  assertInstanceOf(across(new ValueTooLargeError("too large")), ValueTooLargeError);
  const unreachable = across(new StoreUnreachableError("connection refused"));
  assertInstanceOf(unreachable, StoreUnreachableError);
  assertEquals(unreachable.message, "store unreachable: connection refused");
});

Deno.test("a system error keeps its name, message and errno code across threads", () => {
  const error = Object.assign(new Error("No space left on device"), { code: "ENOSPC" });
  error.name = "Error";
  const back = across(error);
  assertEquals([back.name, back.message, (back as { code?: string }).code], [
    "Error",
    "No space left on device",
    "ENOSPC",
  ]);
  assertEquals(across("a string").message, "a string");
});
