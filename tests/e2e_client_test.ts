/** End to end: switchboard-client (SPEC §7) against a real server. */
import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { repoPath, run, TestServer } from "./helpers.ts";

const CLIENT = repoPath("client.ts");

function client(args: string[], stdin?: string) {
  return run(Deno.execPath(), ["run", "--no-prompt", "--allow-net", CLIENT, ...args], stdin);
}

Deno.test("client one-shot commands print the reply payload and exit 0", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  assertEquals(await client([...port, "ping"]), { code: 0, stdout: "PONG\n", stderr: "" });
  assertEquals((await client(["calc", "add", "2", "-5", ...port])).stdout, "-3\n");
  assertEquals((await client(["echo", "a", "b", ...port])).stdout, "a b\n");
  assertEquals((await client([...port, "raw", "PING", "x"])).stdout, "x\n");
  assertEquals(
    (await client([...port, "hello", "Ada Lovelace", "S1", "ada"])).stdout,
    "hello Ada Lovelace\n",
  );
  assertMatch((await client([...port, "who"])).stdout, /^\d+ 127\.0\.0\.1:\d+ running - /);
  assertStringIncludes((await client([`--port=${server.port}`, "stats"])).stdout, "\nqueued 0\n");
});

Deno.test("client reports ERR on stderr with exit 1, usage errors with exit 2", async () => {
  await using server = await TestServer.start();
  const port = ["--port", String(server.port)];
  assertEquals(await client([...port, "calc", "div", "1", "0"]), {
    code: 1,
    stdout: "",
    stderr: "error: div-by-zero: cannot divide by zero\n",
  });
  const usage = await client([...port, "frobnicate"]);
  assertEquals(usage.code, 2);
  assertMatch(usage.stderr, /^error: unknown command "frobnicate"\nusage: switchboard-client/);
  assertEquals((await client([...port, "calc", "add", "1"])).code, 2);
  assertEquals((await client([...port, "--bogus", "ping"])).code, 2);
  assertEquals(
    (await client([...port, "hello", "Ada"])).stderr.split("\n")[0],
    "error: hello needs a student id: hello <name> <student-id> <github>",
  );
});

Deno.test("client exits 3 when it cannot connect or the server closes", async () => {
  const server = await TestServer.start();
  const port = server.port;
  await server[Symbol.asyncDispose]();
  assertEquals(await client(["--port", String(port), "ping"]), {
    code: 3,
    stdout: "",
    stderr: `error: cannot connect to 127.0.0.1:${port}: connection refused\n`,
  });
  await using full = await TestServer.start(["--max-running", "1", "--queue-limit", "0"]);
  await using _hold = await holdSlot(full.port);
  const busy = await client(["--port", String(full.port), "ping"]);
  // Refused by the Manager: the server's ERR busy is the reply.
  assertEquals(busy.code, 1);
  assertEquals(busy.stderr, "error: busy: server full (1 running, 0 queued)\n");
  await using slow = await TestServer.start(["--max-running", "1"]);
  await using _hold2 = await holdSlot(slow.port);
  const timedOut = await client(["--port", String(slow.port), "--timeout", "0.3", "ping"]);
  assertEquals(timedOut.code, 3);
  assertEquals(timedOut.stderr, `error: no reply from 127.0.0.1:${slow.port} within 0.3 s\n`);
});

/** Occupies the only running slot until disposed. */
async function holdSlot(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode("PING\n"));
  await conn.read(new Uint8Array(64));
  return { [Symbol.asyncDispose]: () => Promise.resolve(conn.close()) };
}

Deno.test("client piped mode sends every line, prints every reply, exits 1 after an ERR", async () => {
  await using server = await TestServer.start();
  const script = "PING\n\nCALC add 1 2\nNOPE\nECHO last\n";
  const result = await client(["--port", String(server.port)], script);
  assertEquals(result.stdout, "PONG\n3\nlast\n");
  assertEquals(
    result.stderr,
    "error: unknown-command: NOPE is not a command; HELP lists the commands\n",
  );
  assertEquals(result.code, 1);
  const clean = await client(["--port", String(server.port)], "PING\nQUIT\nPING\n");
  assertEquals(clean, { code: 0, stdout: "PONG\nbye\n", stderr: "" });
  const many = Array.from({ length: 500 }, (_, i) => `ECHO ${i}`).join("\n");
  const pipelined = await client(["--port", String(server.port)], many);
  assertEquals(pipelined.stdout, Array.from({ length: 500 }, (_, i) => `${i}\n`).join(""));
});

Deno.test("client --json prints one JSON object per reply", async () => {
  await using server = await TestServer.start();
  const result = await client(
    ["--json", "--port", String(server.port)],
    "PING\nCALC div 1 0\nHELP PING\n",
  );
  const lines = result.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines[0], { ok: true, text: "PONG" });
  assertEquals(lines[1], { ok: false, code: "div-by-zero", message: "cannot divide by zero" });
  assertEquals(lines[2].ok, true);
  assertMatch(lines[2].data, /^PING \[text\]/);
  assertEquals(result.code, 1);
});

Deno.test("client --help goes to stdout; --version prints the version", async () => {
  const help = await client(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(help.stdout, /^usage: switchboard-client/);
  assertEquals((await client(["--version"])).stdout, "switchboard-client 0.1.0\n");
});

/** The client under a real pseudo-terminal (`script`): type lines, read the screen. */
class Terminal {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;
  screen = "";

  constructor(args: string[]) {
    const command = [Deno.execPath(), "run", "--no-prompt", "--allow-net", CLIENT, ...args].join(
      " ",
    );
    this.#child = new Deno.Command("script", {
      args: ["-qfec", command, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env: { NO_COLOR: "1", TERM: "dumb" },
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const output = this.#child.stdout.pipeThrough(new TextDecoderStream());
    this.#reading = (async () => {
      for await (const chunk of output) {
        this.screen += chunk;
      }
    })();
  }

  async waitFor(text: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!this.screen.includes(text)) {
      if (Date.now() > deadline) {
        throw new Error(`never saw ${JSON.stringify(text)} in ${JSON.stringify(this.screen)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async type(line: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(line + "\r"));
  }

  async exit(): Promise<number> {
    const status = await this.#child.status;
    await this.#writer.close().catch(() => {});
    await this.#reading;
    return status.code;
  }
}

Deno.test("client shell works under a real terminal: prompt, replies, errors, exit", async () => {
  await using server = await TestServer.start();
  const term = new Terminal(["--port", String(server.port)]);
  await term.waitFor("switchboard>");
  await term.type("PING");
  await term.waitFor("PONG");
  await term.type("calc mul 6 7");
  await term.waitFor("42");
  await term.type("nope");
  await term.waitFor("error: unknown-command: nope is not a command");
  await term.type("exit");
  await term.waitFor("bye");
  assertEquals(await term.exit(), 0);
});

Deno.test("client shell says it is waiting for a free slot while queued", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  const holder = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await holder.write(new TextEncoder().encode("PING\n"));
  await holder.read(new Uint8Array(64));
  const term = new Terminal(["--port", String(server.port)]);
  await term.waitFor("switchboard>");
  await term.type("PING queued");
  await term.waitFor("waiting for a free slot…");
  holder.close();
  await term.waitFor("queued\r\n");
  await term.type("quit");
  assertEquals(await term.exit(), 0);
});

Deno.test("client hello on a terminal asks for what is missing", async () => {
  await using server = await TestServer.start();
  const term = new Terminal(["--port", String(server.port), "hello", "Ada"]);
  await term.waitFor("student id:");
  await term.type("S1815");
  await term.waitFor("GitHub user:");
  await term.type("ada");
  await term.waitFor("hello Ada");
  assertEquals(await term.exit(), 0);
  await server.waitForLog(/hello client=\d+ name=Ada student_id=S1815 github=ada/);
});

Deno.test("client exits 3 with a clear line when the server closes mid-reply", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(64));
    await conn.write(new TextEncoder().encode("DATA 100\nonly part"));
    conn.close();
  })();
  const result = await client(["--port", String(listener.addr.port), "stats"]);
  await serving;
  assertEquals(result.code, 3);
  assertEquals(
    result.stderr,
    `error: 127.0.0.1:${listener.addr.port} closed the connection before replying (if it is a TLS port, add --tls)\n`,
  );
});
