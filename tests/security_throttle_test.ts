/**
 * The AUTH failure throttle: per (address, name) and per address, the window, the seconds to
 * wait, the per-/64 key and the memory cap.
 */
import { assertEquals } from "@std/assert";
import { AuthThrottle } from "../lib/security/auth_throttle.ts";

function throttle(options: { maxAddresses?: number } = {}) {
  const clock = { now: 0 };
  return { clock, throttle: new AuthThrottle({ now: () => clock.now, ...options }) };
}

Deno.test("four failures for a name leave AUTH open, the fifth closes it for that name only", () => {
  const { clock, throttle: t } = throttle();
  for (let i = 0; i < 4; i++) {
    t.recordFailure("192.0.2.1", "bob");
    clock.now += 1_000;
  }
  assertEquals(t.retryAfterS("192.0.2.1", "bob"), undefined);
  t.recordFailure("192.0.2.1", "bob");
  // Oldest failure at 0 s, now 4 s: it leaves the 60 s window in 56 s.
  assertEquals(t.retryAfterS("192.0.2.1", "bob"), 56);
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), undefined, "bob's typos do not lock ada out");
  assertEquals(t.retryAfterS("192.0.2.2", "bob"), undefined, "nor bob at another address");
  assertEquals(t.failures("192.0.2.1"), 5);
});

Deno.test("twenty failures for any names close the address to every name", () => {
  const { clock, throttle: t } = throttle();
  for (let i = 0; i < 19; i++) {
    t.recordFailure("192.0.2.1", `user${i % 4}`);
    clock.now += 1_000;
  }
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), undefined);
  t.recordFailure("192.0.2.1", "eve");
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), 41, "the failure at 0 s leaves at 60 s");
  clock.now = 60_000;
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), undefined);
  // user0 failed at 0, 4, 8, 12 and 16 s: 4 remain, so its door is open too.
  assertEquals(t.retryAfterS("192.0.2.1", "user0"), undefined);
  t.recordFailure("192.0.2.1", "user0");
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), 1, "20 for the address again: closed to all");
});

Deno.test("names that cannot be users count as one name", () => {
  const { throttle: t } = throttle();
  for (let i = 0; i < 5; i++) t.recordFailure("192.0.2.1", `x y ${i}`);
  assertEquals(t.retryAfterS("192.0.2.1", "\x1b[2J"), 60);
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), undefined);
});

Deno.test("the wait counts down to the oldest failure leaving the window, rounded up", () => {
  const { clock, throttle: t } = throttle();
  for (let i = 0; i < 5; i++) t.recordFailure("192.0.2.1", "ada");
  clock.now = 59_001;
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), 1);
  clock.now = 58_999;
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), 2);
  clock.now = 60_000;
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), undefined);
});

Deno.test("failures spread over more than the window never close it", () => {
  const { clock, throttle: t } = throttle();
  for (let i = 0; i < 20; i++) {
    t.recordFailure("192.0.2.1", "ada");
    assertEquals(t.retryAfterS("192.0.2.1", "ada"), undefined, `failure ${i + 1}`);
    clock.now += 15_001;
  }
});

Deno.test("after the wait one more failure closes it again until the next oldest leaves", () => {
  const { clock, throttle: t } = throttle();
  for (let i = 0; i < 5; i++) {
    t.recordFailure("192.0.2.1", "ada");
    clock.now += 10_000;
  }
  clock.now = 60_000; // the failure at 0 s has left; 10..40 s remain
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), undefined);
  t.recordFailure("192.0.2.1", "ada");
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), 10);
});

Deno.test("addresses are counted apart, IPv6 per /64 and mapped IPv4 as IPv4", () => {
  const { throttle: t } = throttle();
  for (let i = 0; i < 5; i++) t.recordFailure(`2001:db8:1:2::${i + 1}`, "ada");
  assertEquals(t.retryAfterS("2001:db8:1:2:ffff::9", "ada"), 60);
  assertEquals(t.retryAfterS("2001:db8:1:3::1", "ada"), undefined);
  for (let i = 0; i < 5; i++) t.recordFailure("::ffff:192.0.2.1", "ada");
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), 60);
  assertEquals(t.retryAfterS("192.0.2.2", "ada"), undefined);
});

Deno.test("a spray from many addresses is capped, forgetting the least recent", () => {
  const { clock, throttle: t } = throttle({ maxAddresses: 100 });
  for (let i = 0; i < 5; i++) t.recordFailure("198.51.100.1", "ada");
  for (let i = 0; i < 10_000; i++) {
    clock.now += 1;
    t.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, "ada");
  }
  assertEquals(t.size, 100);
  assertEquals(t.retryAfterS("198.51.100.1", "ada"), undefined, "the oldest was forgotten");
  assertEquals(t.retryAfterS("10.0.39.15", "ada"), undefined, "one failure is not enough");
});

Deno.test("entries whose failures all left the window are forgotten when looked at", () => {
  const { clock, throttle: t } = throttle();
  t.recordFailure("192.0.2.1", "ada");
  t.recordFailure("192.0.2.2", "ada");
  clock.now = 60_000;
  assertEquals(t.retryAfterS("192.0.2.1", "ada"), undefined);
  assertEquals(t.size, 1);
  t.recordFailure("192.0.2.2", "ada");
  assertEquals(t.size, 1);
});
