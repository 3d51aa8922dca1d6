/** The users file: its lines, every kind of malformed line, loading, and the permission check. */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { hashPassword } from "../lib/security/password_hash.ts";
import { tempDir } from "./helpers.ts";
import {
  loadUsers,
  looseUsersFileMode,
  parseUsersFile,
  UsersFileError,
} from "../lib/security/users_file.ts";

const HASH = await hashPassword("pw", { n: 1024, r: 8, p: 1 });

Deno.test("a users file has users, comments and blank lines", () => {
  const text = [
    "# switchboard users",
    "",
    `ada write ${HASH}`,
    `  bob\tread   ${HASH}   # the auditor`,
    "   ",
    `carol.b-2_x read ${HASH}\r`,
  ].join("\n");
  const found = parseUsersFile(text, "users.txt");
  assertEquals(found.map(({ user, line }) => [user.name, user.role, line]), [
    ["ada", "write", 3],
    ["bob", "read", 4],
    ["carol.b-2_x", "read", 6],
  ]);
  assertEquals(found[0]!.user.hash.n, 1024);
});

Deno.test("an empty users file has no users", () => {
  assertEquals(parseUsersFile("", "users.txt"), []);
  assertEquals(parseUsersFile("# nobody yet\n\n", "users.txt"), []);
});

Deno.test("each kind of malformed line is refused in one line naming the file and line", () => {
  const cases: Array<[string, string]> = [
    ["ada write", 'users file "u.txt" line 2: expected <name> <role> <hash>, found 2 field(s)'],
    [
      `ada write ${HASH} extra`,
      'users file "u.txt" line 2: expected <name> <role> <hash>, found 4 field(s)',
    ],
    [
      `ad@ write ${HASH}`,
      'users file "u.txt" line 2: bad name "ad@": names are 1 to 64 of A-Z a-z 0-9 . _ - (not starting with -)',
    ],
    [`-ada write ${HASH}`, 'users file "u.txt" line 2: bad name "-ada"'],
    [`${"a".repeat(65)} write ${HASH}`, `users file "u.txt" line 2: bad name "${"a".repeat(65)}"`],
    [
      `ada admin ${HASH}`,
      'users file "u.txt" line 2: unknown role "admin" (roles: read, write)',
    ],
    [`ada Write ${HASH}`, 'users file "u.txt" line 2: unknown role "Write"'],
    [
      "ada write hunter2",
      'users file "u.txt" line 2: hash must look like scrypt$N$r$p$salt$key (write it with switchboard-server passwd)',
    ],
    [
      `ada write ${HASH.replace("$1024$", "$1000$")}`,
      'users file "u.txt" line 2: hash N must be a power of two: 1000',
    ],
    [`ada\u001b write ${HASH}`, 'users file "u.txt" line 2: bad name "ada\\u001b"'],
  ];
  for (const [line, message] of cases) {
    const error = assertThrows(
      () => parseUsersFile(`# users\n${line}\nbob read ${HASH}\n`, "u.txt"),
      UsersFileError,
    );
    assert(error.message.startsWith(message), `${JSON.stringify(line)}:\n  ${error.message}`);
    assertEquals(error.line, 2);
    assert(!error.message.includes("\n"), "one line");
  }
});

Deno.test("a user defined twice is refused at the second line, naming the first", () => {
  const error = assertThrows(
    () => parseUsersFile(`ada write ${HASH}\n\nada read ${HASH}\n`, "u.txt"),
    UsersFileError,
  );
  assertEquals(error.message, 'users file "u.txt" line 3: user ada is already defined on line 1');
});

Deno.test("names are case-sensitive", () => {
  const found = parseUsersFile(`ada write ${HASH}\nAda read ${HASH}\n`, "u.txt");
  assertEquals(found.map(({ user }) => user.name), ["ada", "Ada"]);
});

Deno.test("loadUsers reads a file into users by name", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/users`;
  await Deno.writeTextFile(path, `ada write ${HASH}\nbob read ${HASH}\n`);
  const users = await loadUsers(path);
  assertEquals([...users.keys()], ["ada", "bob"]);
  assertEquals(users.get("bob")?.role, "read");
});

Deno.test("loadUsers refuses a missing file and one that is not UTF-8, in one line", async () => {
  await using dir = await tempDir();
  const missing = await assertRejects(() => loadUsers(`${dir.path}/nope`), UsersFileError);
  assertEquals(missing.message, `users file "${dir.path}/nope": no such file`);
  await Deno.writeFile(`${dir.path}/bin`, new Uint8Array([0x61, 0xff, 0x0a]));
  const binary = await assertRejects(() => loadUsers(`${dir.path}/bin`), UsersFileError);
  assertEquals(binary.message, `users file "${dir.path}/bin": not UTF-8 text`);
  const folder = await assertRejects(() => loadUsers(dir.path), UsersFileError);
  assert(folder.message.startsWith(`users file "${dir.path}": `), folder.message);
});

Deno.test(
  "looseUsersFileMode reports a file that group or others may access",
  { ignore: Deno.build.os === "windows" },
  async () => {
    await using dir = await tempDir();
    const path = `${dir.path}/users`;
    await Deno.writeTextFile(path, "");
    const modes: Array<[number, number | undefined]> = [
      [0o600, undefined],
      [0o400, undefined],
      [0o640, 0o640],
      [0o604, 0o604],
      [0o644, 0o644],
      [0o610, 0o610],
    ];
    for (const [mode, expected] of modes) {
      await Deno.chmod(path, mode);
      assertEquals(await looseUsersFileMode(path), expected, mode.toString(8));
    }
  },
);
