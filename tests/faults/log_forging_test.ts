/**
 * Client text cannot forge a log line or disguise a name
 * (docs/protocol.md#limits-and-bad-input): the line and paragraph separators and the
 * bidirectional controls from AUTH and HELLO names and FILE names reach the
 * log escaped, in text and JSON logs, and names are quoted.
 */
import { assert, assertEquals } from "@std/assert";
import { tempDir, TestClient, TestServer } from "../helpers.ts";
import { ADA, authLine, writeUsers } from "../users_fixtures.ts";

/** What must never reach a log line raw: U+0085, U+2028, U+2029 and the bidirectional controls. */
const FORGING = /[\u0085\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** A name that would read as `evil.png` and end the line, written with escapes so the source stays clean. */
const SPOOF = "\u202egnp.exe\u2028\u2029\u2066x\u2069";
/** SPOOF as the log writes it. */
const SPOOF_ESCAPED = "\\u202egnp.exe\\u2028\\u2029\\u2066x\\u2069";
/** An AUTH name may hold controls too (HELLO and file names may not): U+0085, the C1 line break. */
const AUTH_SPOOF = `${SPOOF}\u0085`;
const AUTH_SPOOF_ESCAPED = `${SPOOF_ESCAPED}\\x85`;

for (const format of ["text", "json"] as const) {
  Deno.test(`${format} log: separators and bidirectional controls from AUTH, HELLO and FILE names are escaped`, async () => {
    await using dir = await tempDir();
    const usersFile = `${dir.path}/users`;
    await writeUsers(usersFile, [ADA]);
    await using server = await TestServer.start(["--users", usersFile, "--log-format", format]);
    using c = await TestClient.connect(server.port);
    assertEquals(await c.ask(`AUTH "${AUTH_SPOOF}" guess`), "ERR denied wrong name or password");
    assertEquals(await c.ask(authLine(ADA)), "OK welcome ada write");
    assertEquals(await c.ask(`HELLO "${SPOOF}" S1 ada`), `OK hello ${SPOOF}`);
    const stored = await c.put(SPOOF, "payload");
    assert(stored.startsWith("OK stored"), stored);
    await server.waitForLog(/file stored/);
    for (const line of server.log) {
      assert(!FORGING.test(line), `a raw forging character in the log: ${JSON.stringify(line)}`);
    }
    if (format === "text") {
      server.assertLogged(new RegExp(`AUTH denied client=\\d+ name="${re(AUTH_SPOOF_ESCAPED)}" `));
      server.assertLogged(new RegExp(`client authenticated client=\\d+ user="ada" role=write`));
      server.assertLogged(
        new RegExp(`hello client=\\d+ name="${re(SPOOF_ESCAPED)}" student_id=S1`),
      );
      server.assertLogged(
        new RegExp(`file stored client=\\d+ name="${re(SPOOF_ESCAPED)}" size=7$`),
      );
    } else {
      const records = server.log.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      const names = (msg: string) => records.filter((r) => r.msg === msg).map((r) => r.name);
      assertEquals(
        names("AUTH denied"),
        [AUTH_SPOOF],
        "JSON still reads back as the client's text",
      );
      assertEquals(names("hello"), [SPOOF]);
      assertEquals(names("file stored"), [SPOOF]);
      server.assertLogged(new RegExp(`"name":"${re(`${SPOOF_ESCAPED}\\u0085`)}"`));
    }
  });
}

/** `text` with regular-expression characters escaped. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
