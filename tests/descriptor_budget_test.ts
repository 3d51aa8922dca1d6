/** The descriptor budget (lib/server/admission/descriptors.ts): how many queued connections fit. */
import { assertEquals } from "@std/assert";
import { descriptorBudget } from "../lib/server/admission/descriptors.ts";

Deno.test("the descriptor budget lowers the queue limit to what fits: one descriptor per plain connection", () => {
  // 32 spare + 10 extra + 64 running x 2 = 170 fixed; 1000 - 170 = 830 queued.
  assertEquals(
    descriptorBudget(1000, { maxRunning: 64, queueLimit: 1024, extra: 10 }),
    { needed: 1194, queueLimit: 830 },
  );
});

Deno.test("the descriptor budget counts two descriptors per TLS connection", () => {
  // 32 spare + 10 extra + 64 running x 3 = 234 fixed; (1000 - 234) / 2 = 383 queued.
  assertEquals(
    descriptorBudget(1000, { maxRunning: 64, queueLimit: 1024, extra: 10, perConnection: 2 }),
    { needed: 2282, queueLimit: 383 },
  );
});
