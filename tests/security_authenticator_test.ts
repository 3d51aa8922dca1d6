/** AUTH's decision: users, the dummy hash for unknown names, the throttle, the hash slots, reload. */
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import {
  hashPassword,
  parsePasswordHash,
  type PasswordHash,
  verifyPassword,
} from "../lib/security/password_hash.ts";
import { Authenticator, throttledMessage } from "../lib/security/authenticator.ts";
import { AuthThrottle } from "../lib/security/auth_throttle.ts";
import type { User, Users } from "../lib/security/users_file.ts";

/** Cheap parameters: the tests check behaviour, not cost. */
const CHEAP = { n: 1024, r: 8, p: 1 };

async function usersOf(...entries: Array<[string, "read" | "write", string]>): Promise<Users> {
  const users = new Map<string, User>();
  for (const [name, role, password] of entries) {
    users.set(name, { name, role, hash: parsePasswordHash(await hashPassword(password, CHEAP)) });
  }
  return users;
}

Deno.test("AUTH accepts the right password and answers the user with its role", async () => {
  const auth = new Authenticator(
    await usersOf(["ada", "write", "secret"], ["bob", "read", "hunter2"]),
  );
  const result = await auth.authenticate("10.0.0.1", "bob", "hunter2");
  if (!result.ok) throw new Error(`expected a user, got ${result.reason}`);
  assertEquals([result.user.name, result.user.role], ["bob", "read"]);
});

Deno.test("a wrong password and an unknown name get the same answer", async () => {
  const auth = new Authenticator(await usersOf(["ada", "write", "secret"]));
  assertEquals(await auth.authenticate("10.0.0.1", "ada", "wrong"), { ok: false, reason: "wrong" });
  assertEquals(await auth.authenticate("10.0.0.1", "eve", "secret"), {
    ok: false,
    reason: "wrong",
  });
});

Deno.test("an unknown name costs a verification too, against a hash with the users' parameters", async () => {
  const users = await usersOf(["ada", "write", "secret"]);
  const verified: PasswordHash[] = [];
  const auth = new Authenticator(users, {
    verify: (password, hash) => {
      verified.push(hash);
      return verifyPassword(password, hash);
    },
  });
  await auth.authenticate("10.0.0.1", "eve", "secret");
  await auth.authenticate("10.0.0.1", "ada", "wrong");
  assertEquals(verified.length, 2);
  const [dummy, real] = verified as [PasswordHash, PasswordHash];
  assertNotEquals(dummy, real);
  assertEquals([dummy.n, dummy.r, dummy.p, dummy.salt.length, dummy.key.length], [
    real.n,
    real.r,
    real.p,
    real.salt.length,
    real.key.length,
  ]);
});

Deno.test("after 5 failures AUTH is refused without verifying, with the seconds to wait", async () => {
  let now = 1_000_000;
  let verifications = 0;
  const auth = new Authenticator(await usersOf(["ada", "write", "secret"]), {
    throttle: new AuthThrottle({ now: () => now }),
    verify: (password, hash) => {
      verifications++;
      return verifyPassword(password, hash);
    },
  });
  for (let i = 0; i < 5; i++) await auth.authenticate("10.0.0.1", "ada", `guess${i}`);
  now += 12_500;
  const refused = await auth.authenticate("10.0.0.1", "ada", "secret");
  assertEquals(refused, { ok: false, reason: "throttled", retryAfterS: 48 });
  assertEquals(verifications, 5);
  assertEquals(throttledMessage(48), "too many failed attempts; retry in 48 s");
  assert((await auth.authenticate("10.0.0.2", "ada", "secret")).ok, "another address may");
});

Deno.test("one name's failures do not refuse another name from the same address; 20 for any names do", async () => {
  let verifications = 0;
  const auth = new Authenticator(
    await usersOf(["ada", "write", "secret"], ["bob", "read", "hunter2"]),
    {
      verify: (password, hash) => {
        verifications++;
        return verifyPassword(password, hash);
      },
    },
  );
  for (let i = 0; i < 5; i++) await auth.authenticate("10.0.0.1", "bob", `typo${i}`);
  assertEquals((await auth.authenticate("10.0.0.1", "bob", "hunter2")).ok, false);
  assertEquals(verifications, 5, "bob is refused unchecked");
  assert((await auth.authenticate("10.0.0.1", "ada", "secret")).ok, "ada gets in");
  for (let i = 0; i < 15; i++) await auth.authenticate("10.0.0.1", `name${i}`, "guess");
  const refused = await auth.authenticate("10.0.0.1", "ada", "secret");
  assertEquals(refused.ok ? "ok" : refused.reason, "throttled");
  assertEquals(verifications, 21);
});

Deno.test("a waiting AUTH from an address without failures is hashed before waiting guesses", async () => {
  const order: string[] = [];
  let release: () => void = () => {};
  const auth = new Authenticator(await usersOf(["ada", "write", "secret"]), {
    hashSlots: 1,
    verify: async (password, hash) => {
      order.push(password);
      if (password === "first") await new Promise<void>((resolve) => release = resolve);
      return verifyPassword(password, hash);
    },
  });
  // Each guessing address has failed once already.
  const guessers = Array.from({ length: 6 }, (_, i) => `10.0.1.${i}`);
  for (const address of guessers) await auth.authenticate(address, "ada", "before");
  order.length = 0;
  const holding = auth.authenticate("10.0.9.9", "ada", "first");
  const guesses = guessers.map((address) => auth.authenticate(address, "ada", `guess ${address}`));
  const legitimate = auth.authenticate("10.0.0.1", "ada", "secret");
  release();
  assert((await legitimate).ok);
  await Promise.all([holding, ...guesses]);
  assertEquals(order.slice(0, 2), ["first", "secret"], "the clean address goes next");
  assertEquals(order.length, 8);
});

Deno.test("AUTHs waiting for a slot are refused once their address hits the limit", async () => {
  let verifications = 0;
  const auth = new Authenticator(await usersOf(["ada", "write", "secret"]), {
    hashSlots: 1,
    verify: (password, hash) => {
      verifications++;
      return verifyPassword(password, hash);
    },
  });
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => auth.authenticate("10.0.0.1", "ada", `guess${i}`)),
  );
  assertEquals(verifications, 5);
  assertEquals(results.map((r) => r.ok ? "ok" : r.reason), [
    ...Array(5).fill("wrong"),
    ...Array(3).fill("throttled"),
  ]);
});

Deno.test("at most hashSlots verifications run at once", async () => {
  let running = 0;
  let most = 0;
  const auth = new Authenticator(await usersOf(["ada", "write", "secret"]), {
    hashSlots: 2,
    throttle: new AuthThrottle({ maxNameFailures: 100 }),
    verify: async (password, hash) => {
      most = Math.max(most, ++running);
      try {
        return await verifyPassword(password, hash);
      } finally {
        running--;
      }
    },
  });
  await Promise.all(
    Array.from({ length: 6 }, (_, i) => auth.authenticate(`10.0.0.${i}`, "ada", "secret")),
  );
  assertEquals(most, 2);
});

Deno.test("replaced users are in force for the next AUTH", async () => {
  const auth = new Authenticator(await usersOf(["ada", "write", "secret"]));
  auth.replaceUsers(await usersOf(["bob", "read", "hunter2"]));
  assertEquals((await auth.authenticate("10.0.0.1", "ada", "secret")).ok, false);
  assertEquals((await auth.authenticate("10.0.0.1", "bob", "hunter2")).ok, true);
  assertEquals([...auth.users.keys()], ["bob"]);
});
