/** `switchboard-server passwd`: the file edit, the atomic rewrite, the arguments, the password input. */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { parsePasswdArgs, passwd, setUserLine } from "../lib/security/passwd.ts";
import {
  PasswordAbortedError,
  PasswordInputError,
  type PasswordSource,
  readNewPassword,
  readPassword,
} from "../lib/security/password_input.ts";
import { verifyPassword } from "../lib/security/password_hash.ts";
import { loadUsers, UsersFileError } from "../lib/security/users_file.ts";
import { UsageError } from "../lib/usage_error.ts";
import { repoPath, run, SERVER_PERMISSIONS, tempDir } from "./helpers.ts";

const CHEAP = { parameters: { n: 1024, r: 8, p: 1 } };
const password = (text: string) => () => Promise.resolve(text);
const POSIX = Deno.build.os !== "windows";

Deno.test("passwd creates a missing users file with mode 0600 and one user", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/users`;
  await passwd({ file, name: "ada", role: "write" }, password("secret"), CHEAP);
  const users = await loadUsers(file);
  assertEquals([...users.keys()], ["ada"]);
  assertEquals(users.get("ada")!.role, "write");
  assert(await verifyPassword("secret", users.get("ada")!.hash));
  if (POSIX) assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);
  assertEquals(
    [...Deno.readDirSync(dir.path)].map((e) => e.name),
    ["users"],
    "no temporary file left",
  );
});

Deno.test("passwd replaces a user in place and keeps every other line", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/users`;
  await passwd({ file, name: "ada", role: "write" }, password("old"), CHEAP);
  await passwd({ file, name: "bob", role: "read" }, password("bobs"), CHEAP);
  const [adaLine, bobLine] = (await Deno.readTextFile(file)).trimEnd().split("\n");
  await Deno.writeTextFile(file, `# team\n${adaLine} # the admin\n\n${bobLine}\n# end\n`);
  await Deno.chmod(file, 0o640);

  await passwd({ file, name: "ada", role: "read" }, password("new"), CHEAP);

  const lines = (await Deno.readTextFile(file)).split("\n");
  assertEquals(lines.length, 6);
  assertEquals([lines[0], lines[2], lines[3], lines[4], lines[5]], [
    "# team",
    "",
    bobLine,
    "# end",
    "",
  ]);
  assert(lines[1]!.startsWith("ada read scrypt$") && lines[1]!.endsWith(" # the admin"), lines[1]);
  const users = await loadUsers(file);
  assertEquals(users.get("ada")!.role, "read");
  assert(await verifyPassword("new", users.get("ada")!.hash));
  assert(!await verifyPassword("old", users.get("ada")!.hash));
  assert(await verifyPassword("bobs", users.get("bob")!.hash));
  if (POSIX) {
    assertEquals((await Deno.stat(file)).mode! & 0o777, 0o640, "the operator's mode stays");
  }
});

Deno.test("passwd refuses a malformed users file before asking for the password", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/users`;
  await Deno.writeTextFile(file, "ada write\n");
  let asked = false;
  const error = await assertRejects(
    () =>
      passwd({ file, name: "bob", role: "read" }, () => {
        asked = true;
        return Promise.resolve("pw");
      }, CHEAP),
    UsersFileError,
  );
  assertEquals(
    error.message,
    `users file "${file}" line 1: expected <name> <role> <hash>, found 2 field(s)`,
  );
  assertEquals(asked, false);
  assertEquals(await Deno.readTextFile(file), "ada write\n");
});

Deno.test("passwd refuses an empty password and leaves the file as it was", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/users`;
  await assertRejects(
    () => passwd({ file, name: "ada", role: "write" }, password(""), CHEAP),
    PasswordInputError,
    "the password is empty",
  );
  await assertRejects(() => Deno.stat(file), Deno.errors.NotFound);
});

Deno.test("passwd reports a file it cannot write as one UsersFileError", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/no-such-folder/users`;
  const error = await assertRejects(
    () => passwd({ file, name: "ada", role: "write" }, password("pw"), CHEAP),
    UsersFileError,
  );
  assert(error.message.startsWith(`users file "${file}": `), error.message);
});

Deno.test("setUserLine appends to text without a final newline and keeps CR LF endings", () => {
  assertEquals(setUserLine("", "ada", "ada write H"), "ada write H\n");
  assertEquals(setUserLine("# x", "ada", "ada write H"), "# x\nada write H\n");
  assertEquals(
    setUserLine("# x\r\nada read OLD\r\n", "ada", "ada write H"),
    "# x\r\nada write H\r\n",
  );
  assertEquals(setUserLine("adam read A\n", "ada", "ada write H"), "adam read A\nada write H\n");
});

Deno.test("passwd arguments: FILE NAME ROLE, each checked", () => {
  assertEquals(parsePasswdArgs(["u", "ada", "read"]), { file: "u", name: "ada", role: "read" });
  const cases: Array<[string[], string]> = [
    [["u", "ada"], "passwd takes FILE NAME ROLE: received 2 argument(s)"],
    [["u", "ada", "read", "x"], "passwd takes FILE NAME ROLE: received 4 argument(s)"],
    [
      ["u", "a b", "read"],
      'passwd NAME must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with -): received "a b"',
    ],
    [
      ["u", "--help", "read"],
      'passwd NAME must be 1 to 64 of A-Z a-z 0-9 . _ - (not starting with -): received "--help"',
    ],
    [["u", "ada", "admin"], 'passwd ROLE must be read or write: received "admin"'],
    [["", "ada", "read"], 'passwd FILE must be a file path: received ""'],
  ];
  for (const [args, message] of cases) {
    assertThrows(() => parsePasswdArgs(args), UsageError, message);
  }
});

/** A scripted stdin: `chunks` are what successive reads return; `terminal` says what it is. */
function scripted(chunks: Array<string | number[]>, terminal: boolean) {
  const queue = chunks.map((c) =>
    typeof c === "string" ? new TextEncoder().encode(c) : new Uint8Array(c)
  );
  const rawModes: boolean[] = [];
  const source: PasswordSource = {
    read: (buffer) => {
      const next = queue.shift();
      if (next === undefined) return Promise.resolve(null);
      buffer.set(next);
      return Promise.resolve(next.length);
    },
    isTerminal: () => terminal,
    setRaw: (mode) => void rawModes.push(mode),
  };
  const written: string[] = [];
  const prompts = {
    write: (bytes: Uint8Array) => {
      written.push(new TextDecoder().decode(bytes));
      return Promise.resolve(bytes.length);
    },
  };
  return { source, prompts, rawModes, written };
}

Deno.test("from a pipe, the password is the first line, without its CR LF, and nothing is prompted", async () => {
  const pipe = scripted(["s3cret pass", "word\r\nignored\n"], false);
  assertEquals(await readNewPassword(pipe), "s3cret password");
  assertEquals(pipe.written, []);
  assertEquals(pipe.rawModes, []);
  assertEquals(
    await readPassword("p: ", scripted(["last line, no newline"], false)),
    "last line, no newline",
  );
});

Deno.test("from a pipe, empty input and an over-long line are refused", async () => {
  await assertRejects(
    () => readPassword("p: ", scripted([], false)),
    PasswordInputError,
    "the password is empty",
  );
  await assertRejects(
    () => readPassword("p: ", scripted(["\n"], false)),
    PasswordInputError,
    "empty",
  );
  await assertRejects(
    () =>
      readPassword(
        "p: ",
        scripted(["x".repeat(200), ..."x".repeat(1000).match(/.{1,200}/g)!], false),
      ),
    PasswordInputError,
    "longer than 1024 bytes",
  );
});

Deno.test("on a terminal, the prompt goes out, keys are read raw without echo, and raw mode ends", async () => {
  const tty = scripted(["pw", [0x7f], "ä", [0x7f], "d!", "\r"], true);
  assertEquals(await readPassword("password: ", tty), "pd!");
  assertEquals(tty.written, ["password: ", "\n"]);
  assertEquals(tty.rawModes, [true, false]);
});

Deno.test("on a terminal, Ctrl-U clears the line and Ctrl-C aborts with the terminal restored", async () => {
  assertEquals(await readPassword("p: ", scripted(["wrong", [0x15], "right\r"], true)), "right");
  const aborted = scripted(["half", [0x03], "rest\r"], true);
  await assertRejects(() => readPassword("p: ", aborted), PasswordAbortedError);
  assertEquals(aborted.rawModes, [true, false]);
  await assertRejects(() => readPassword("p: ", scripted([[0x04]], true)), PasswordAbortedError);
});

Deno.test("on a terminal, a new password is asked twice and must match", async () => {
  const same = scripted(["secret\r", "secret\r"], true);
  assertEquals(await readNewPassword(same), "secret");
  assertEquals(same.written, ["password: ", "\n", "password again: ", "\n"]);
  await assertRejects(
    () => readNewPassword(scripted(["secret\r", "secert\r"], true)),
    PasswordInputError,
    "the two passwords differ",
  );
});

Deno.test("switchboard-server passwd reads stdin, prints nothing, exits 0; a bad role exits 2", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/users`;
  const args = ["run", "--no-prompt", ...SERVER_PERMISSIONS, repoPath("server.ts"), "passwd", file];
  const ok = await run(Deno.execPath(), [...args, "ada", "write"], "secret\n");
  assertEquals([ok.code, ok.stdout, ok.stderr], [0, "", ""]);
  assert(await verifyPassword("secret", (await loadUsers(file)).get("ada")!.hash));
  if (POSIX) assertEquals((await Deno.stat(file)).mode! & 0o777, 0o600);

  const bad = await run(Deno.execPath(), [...args, "ada", "admin"], "secret\n");
  assertEquals(bad.code, 2);
  assertEquals(bad.stdout, "");
  assert(
    bad.stderr.startsWith('error: passwd ROLE must be read or write: received "admin"\nusage: '),
    bad.stderr,
  );

  const empty = await run(Deno.execPath(), [...args, "bob", "read"], "\n");
  assertEquals([empty.code, empty.stderr], [1, "error: the password is empty\n"]);
});
