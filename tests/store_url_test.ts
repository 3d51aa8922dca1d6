/** `--store` URLs (docs/several-servers.md#the---store-url): parsed into parts, shown without their password. */
import { assertEquals, assertThrows } from "@std/assert";
import { describeUrl, parseStoreUrl, redact } from "../lib/stores/postgres/url.ts";
import { UsageError } from "../lib/usage_error.ts";

Deno.test("a --store URL is shown without its password, IPv6 hosts in brackets", () => {
  const url = parseStoreUrl("postgres://sb:top%2Fsecret@[2001:db8::5]:5433/kv");
  assertEquals(url.password, "top/secret");
  assertEquals(url.host, "2001:db8::5");
  assertEquals(describeUrl(url), "postgres://sb@[2001:db8::5]:5433/kv");
  assertEquals(describeUrl(parseStoreUrl("postgres://db/kv")), "postgres://db:5432/kv");
});

Deno.test("redact hides a URL's password and every occurrence of the secret", () => {
  assertEquals(
    redact("cannot reach postgres://u:pw@h/db", "pw"),
    "cannot reach postgres://u:***@h/db",
  );
  assertEquals(
    redact("the server said: bad password hunter2", "hunter2"),
    "the server said: bad password ***",
  );
  assertEquals(redact("nothing to hide", undefined), "nothing to hide");
});

Deno.test("a malformed --store URL is a UsageError that names the shape and hides the password", () => {
  const error = assertThrows(() => parseStoreUrl("postgres://u:hunter2@db"), UsageError);
  assertEquals(
    error.message,
    '--store must be postgres://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE: it must name one database after the host: received "postgres://u:***@db"',
  );
  assertThrows(() => parseStoreUrl("postgres://db/kv%zz"), UsageError, "bad %-escape");
  assertThrows(
    () => parseStoreUrl("postgres://db:0/kv"),
    UsageError,
    "the port must be 1 to 65535",
  );
});
