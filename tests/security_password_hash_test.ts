/** Password hashes: salted scrypt, the self-describing string, verification, malformed hashes. */
import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import {
  DEFAULT_SCRYPT,
  formatPasswordHash,
  hashPassword,
  parsePasswordHash,
  PasswordHashError,
  unmatchableHash,
  verifyPassword,
} from "../lib/security/password_hash.ts";

/** Cheap parameters: the tests check behaviour, not cost. */
const CHEAP = { n: 1024, r: 8, p: 1 };

Deno.test("a hash verifies its own password and no other", async () => {
  const hash = await hashPassword("correct horse");
  assertEquals(await verifyPassword("correct horse", hash), true);
  assertEquals(await verifyPassword("correct hors", hash), false);
  assertEquals(await verifyPassword("", hash), false);
});

Deno.test("a new hash names its parameters and has a 16-byte salt and 32-byte key", async () => {
  const hash = await hashPassword("pw");
  assert(
    hash.startsWith(`scrypt$${DEFAULT_SCRYPT.n}$${DEFAULT_SCRYPT.r}$${DEFAULT_SCRYPT.p}$`),
    hash,
  );
  const parsed = parsePasswordHash(hash);
  assertEquals([parsed.salt.length, parsed.key.length], [16, 32]);
  assertEquals(formatPasswordHash(parsed), hash);
});

Deno.test("two hashes of one password differ (fresh salt) and both verify", async () => {
  const [a, b] = [await hashPassword("pw", CHEAP), await hashPassword("pw", CHEAP)];
  assertNotEquals(a, b);
  assert(await verifyPassword("pw", a) && await verifyPassword("pw", b));
});

Deno.test("a hash with other parameters still verifies (they travel with it)", async () => {
  const hash = await hashPassword("pw", { n: 2048, r: 4, p: 2 });
  assert(hash.startsWith("scrypt$2048$4$2$"));
  assertEquals(await verifyPassword("pw", hash), true);
});

Deno.test("non-ASCII passwords round-trip", async () => {
  const hash = await hashPassword("pässwörd 🔑", CHEAP);
  assertEquals(await verifyPassword("pässwörd 🔑", hash), true);
  assertEquals(await verifyPassword("passwort 🔑", hash), false);
});

Deno.test("malformed hashes are refused, naming the part", async () => {
  const good = await hashPassword("pw", CHEAP);
  const [, , , , salt, key] = good.split("$");
  const cases: Array<[string, RegExp]> = [
    ["", /must look like scrypt\$N\$r\$p\$salt\$key/],
    ["bcrypt$1024$8$1$" + salt + "$" + key, /must look like/],
    [`scrypt$1024$8$1$${salt}`, /must look like/],
    [`scrypt$1000$8$1$${salt}$${key}`, /N must be a power of two/],
    [`scrypt$01024$8$1$${salt}$${key}`, /N must be an integer/],
    [`scrypt$${2 ** 21}$8$1$${salt}$${key}`, /N must be an integer from 2 to 1048576/],
    [`scrypt$1024$0$1$${salt}$${key}`, /r must be an integer from 1 to 32/],
    [`scrypt$1024$8$99$${salt}$${key}`, /p must be an integer from 1 to 16/],
    [`scrypt$${2 ** 20}$32$1$${salt}$${key}`, /needs 4294967296 bytes/],
    [`scrypt$1024$8$1$${salt}==$${key}`, /salt must be unpadded base64/],
    [`scrypt$1024$8$1$${salt}$${key}!`, /key must be unpadded base64/],
    [`scrypt$1024$8$1$AAAA$${key}`, /salt must be 8 to 64 bytes, not 3/],
    [`scrypt$1024$8$1$${salt}$AAAAAAAA`, /key must be 16 to 64 bytes, not 6/],
  ];
  for (const [text, message] of cases) {
    const error = assertThrows(() => parsePasswordHash(text), PasswordHashError);
    assert(message.test(error.message), `${text}: ${error.message}`);
  }
});

Deno.test("an unmatchable hash has the parameters and sizes it is modelled on", async () => {
  const like = parsePasswordHash(await hashPassword("pw", { n: 2048, r: 4, p: 2 }));
  const dummy = unmatchableHash(like);
  assertEquals([dummy.n, dummy.r, dummy.p], [2048, 4, 2]);
  assertEquals([dummy.salt.length, dummy.key.length], [16, 32]);
  assertEquals(await verifyPassword("pw", dummy), false);
  const fallback = unmatchableHash();
  assertEquals([fallback.n, fallback.r, fallback.p], [DEFAULT_SCRYPT.n, DEFAULT_SCRYPT.r, 1]);
});
