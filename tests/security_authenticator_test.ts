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
    throttle: new AuthThrottle({ maxFailures: 100 }),
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
