/**
 * End to end: the client's security options (docs/client.md) against a real
 * server — `--user` with `SWITCHBOARD_PASSWORD` or a prompt without echo,
 * AUTH sent first in every mode (one-shot, piped, shell, put/get), and
 * `--tls` with `--cacert`, which verifies the certificate and its name.
 */
import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { clientArgs, run, tempDir, TestServer } from "./helpers.ts";
import { Terminal } from "./terminal.ts";
import { makeTlsFixture, tlsServerArgs } from "./tls_fixtures.ts";
import { ADA, BOB, writeUsers } from "./users_fixtures.ts";

/** A server with ada (write) and bob (read); `await using` stops it and removes the users file. */
async function serverWithUsers(args: string[] = []) {
  const dir = await tempDir();
  await writeUsers(`${dir.path}/users`, [ADA, BOB]);
  const server = await TestServer.start(["--users", `${dir.path}/users`, ...args]);
  return {
    server,
    dir: dir.path,
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** The client with its task's permissions, `password` in SWITCHBOARD_PASSWORD when given. */
function client(port: number, args: string[], options: { password?: string; stdin?: string } = {}) {
  const env = options.password === undefined ? {} : { SWITCHBOARD_PASSWORD: options.password };
  return run(Deno.execPath(), [...clientArgs(port), ...args], options.stdin, { env });
}

Deno.test("client --user signs in first for a one-shot command, with the password from SWITCHBOARD_PASSWORD", async () => {
  await using setup = await serverWithUsers();
  const port = setup.server.port;
  assertEquals(
    await client(port, ["--user", "ada", "kv", "set", "k", "v"], { password: ADA.password }),
    {
      code: 0,
      stdout: "",
      stderr: "",
    },
  );
  assertEquals(
    await client(port, ["kv", "get", "k", "--user", "bob"], { password: BOB.password }),
    { code: 0, stdout: "v\n", stderr: "" },
  );
  assertEquals(
    await client(port, ["--user", "bob", "kv", "del", "k"], { password: BOB.password }),
    {
      code: 1,
      stdout: "",
      stderr: "error: denied: bob (read) may not KV DEL\n",
    },
  );
  // Without --user the server asks for AUTH, and the client says how to give it.
  assertEquals(await client(port, ["kv", "get", "k"]), {
    code: 1,
    stdout: "",
    stderr: "error: noauth: authentication required: AUTH <name> <password>\n" +
      "hint: this server has users: start the client with --user NAME (it asks for the password)\n",
  });
});

Deno.test("client --user with a wrong password exits 1 with the server's reply; with no password source, 2", async () => {
  await using setup = await serverWithUsers();
  const port = setup.server.port;
  assertEquals(await client(port, ["--user", "ada", "ping"], { password: "nope" }), {
    code: 1,
    stdout: "",
    stderr: "error: denied: wrong name or password\n",
  });
  const json = await client(port, ["--json", "--user", "ada", "ping"], { password: "nope" });
  assertEquals(json.code, 1);
  assertEquals(JSON.parse(json.stdout), {
    ok: false,
    code: "denied",
    message: "wrong name or password",
  });
  // stdin is not a terminal and SWITCHBOARD_PASSWORD is unset: nowhere to get the password from.
  assertEquals(await client(port, ["--user", "ada", "ping"]), {
    code: 2,
    stdout: "",
    stderr:
      "error: --user ada needs its password in SWITCHBOARD_PASSWORD: stdin is not a terminal to ask on\n",
  });
  const badName = await client(port, ["--user", "a b", "ping"]);
  assertEquals(badName.code, 2);
  assertMatch(badName.stderr, /^error: --user must be a user name, 1 to 64 of/);
});

Deno.test("client --user signs in first in piped mode and for put and get", async () => {
  await using setup = await serverWithUsers();
  const port = setup.server.port;
  const piped = await client(port, ["--user", "bob"], {
    password: BOB.password,
    stdin: "PING\nKV SET k v\nFILE LIST\n",
  });
  assertEquals(piped.code, 1);
  assertEquals(piped.stdout, "PONG\n");
  assertEquals(piped.stderr, "error: denied: bob (read) may not KV SET\n");
  const local = `${setup.dir}/upload.txt`;
  await Deno.writeTextFile(local, "hello over AUTH\n");
  const put = await client(port, ["--user", "ada", "put", local, "up.txt"], {
    password: ADA.password,
  });
  assertEquals(put.code, 0, put.stderr);
  const copy = `${setup.dir}/copy.txt`;
  const get = await client(port, ["--user", "bob", "get", "up.txt", copy], {
    password: BOB.password,
  });
  assertEquals(get.code, 0, get.stderr);
  assertEquals(await Deno.readTextFile(copy), "hello over AUTH\n");
  const denied = await client(port, ["--user", "bob", "put", local, "no.txt"], {
    password: BOB.password,
  });
  assertEquals([denied.code, denied.stderr], [1, "error: denied: bob (read) may not FILE PUT\n"]);
});

Deno.test("client --user on a terminal prompts for the password without echo, then runs the shell as the user", async () => {
  await using setup = await serverWithUsers();
  const command = [Deno.execPath(), ...clientArgs(setup.server.port), "--user", "ada"].join(" ");
  const term = new Terminal(command);
  await term.waitFor("password for ada: ");
  await term.type(ADA.password);
  await term.waitFor(/switchboard ada@127\.0\.0\.1:\d+> /);
  await term.type("KV SET k written-by-ada");
  await term.type("KV GET k");
  // The reply on a line of its own (or after the prompt that was drawn while it came back).
  await term.waitFor(/(\n|> )written-by-ada\r?\n/);
  await term.type("exit");
  assertEquals(await term.exit(), 0);
  assertEquals(term.screen.includes(ADA.password), false, "the password was echoed");
  await setup.server.waitForLog(/client authenticated client=\d+ user="ada" role=write/);
});

Deno.test("client --tls verifies the certificate against --cacert and its name, with no way around it", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    "--host",
    "0.0.0.0",
    "--insecure",
  ]);
  const port = server.port;
  const trusted = ["--tls", "--cacert", fixture.caCertPath];
  assertEquals(await client(port, [...trusted, "--host", "localhost", "ping"]), {
    code: 0,
    stdout: "PONG\n",
    stderr: "",
  });
  assertEquals((await client(port, [...trusted, "calc", "add", "2", "3"])).stdout, "5\n");
  // The system roots do not know the throwaway CA.
  const untrusted = await client(port, ["--tls", "ping"]);
  assertEquals(untrusted.code, 3);
  assertMatch(untrusted.stderr, /^error: cannot connect to 127\.0\.0\.1:\d+: TLS: .*\n$/);
  assertStringIncludes(untrusted.stderr.toLowerCase(), "certificate");
  // The certificate names localhost and 127.0.0.1, not 127.0.0.2.
  const wrongName = await client(port, [...trusted, "--host", "127.0.0.2", "ping"]);
  assertEquals(wrongName.code, 3);
  assertMatch(wrongName.stderr, /^error: cannot connect to 127\.0\.0\.2:\d+: TLS: .*\n$/);
  // A plain client cannot talk to the TLS port, and is told what may be wrong.
  assertEquals(await client(port, ["ping"]), {
    code: 3,
    stdout: "",
    stderr:
      `error: 127.0.0.1:${port} closed the connection before replying (it answered in TLS: add --tls)\n`,
  });
  const cacertAlone = await client(port, ["--cacert", fixture.caCertPath, "ping"]);
  assertEquals(cacertAlone.code, 2);
  assertMatch(cacertAlone.stderr, /^error: --cacert is for TLS connections: add --tls\n/);
  const missing = await client(port, ["--tls", "--cacert", `${fixture.dir}/nope.pem`, "ping"]);
  assertEquals(missing, {
    code: 2,
    stdout: "",
    stderr: `error: --cacert ${fixture.dir}/nope.pem: no such file or directory\n`,
  });
});

Deno.test("client --tls and --user together: AUTH travels inside TLS", async () => {
  await using fixture = await makeTlsFixture();
  await using setup = await serverWithUsers([
    ...tlsServerArgs(fixture),
  ]);
  const result = await client(
    setup.server.port,
    ["--tls", "--cacert", fixture.caCertPath, "--user", "ada", "kv", "incr", "n"],
    { password: ADA.password },
  );
  assertEquals(result, { code: 0, stdout: "1\n", stderr: "" });
});
