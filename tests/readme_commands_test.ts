/**
 * Every command the README shows runs here, as a reader would run it from
 * a folder of their own (`deno task` finds the project, relative paths go
 * through INIT_CWD), and prints what the README says it prints: the nc
 * walkthrough line for line in three sessions, the scripted nc, the
 * client's one-liners, and users with TLS from an empty folder. Port 12000
 * becomes the port the test's server got. A command of a form no test here
 * runs fails the last test.
 */
import { assertEquals } from "@std/assert";
import { codeBlocks, commandsOf, runShell, runUsersAndTls, TaskServer } from "./doc_commands.ts";
import { eventually, repoPath, tempDir } from "./helpers.ts";
import { NcSession } from "./nc_session.ts";
import { unusedPort } from "./ports.ts";

const README = "README.md";
const WALKTHROUGH = "The lab walkthrough, with nc";
const CLIENT = "The client";
const USERS_AND_TLS = "Users and TLS";
const WATCH = "Watch it work";

/** The README's port, replaced by the test server's in every command and output. */
const README_PORT = "12000";

/** Every command the README shows: sh lines, and `$ ` lines of console blocks, with their section. */
function readmeCommands(): Array<{ heading: string; command: string }> {
  const shown: Array<{ heading: string; command: string }> = [];
  for (const block of codeBlocks(README, "sh")) {
    for (const command of commandsOf(block.lines)) shown.push({ heading: block.heading, command });
  }
  for (const block of codeBlocks(README, "console")) {
    for (const line of block.lines) {
      if (line.startsWith("$ ")) shown.push({ heading: block.heading, command: line.slice(2) });
    }
  }
  return shown;
}

/** Ports and timestamps differ from run to run; the rest of a line must match exactly. */
function masked(line: string): string {
  return line.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "TIME")
    .replace(/duration_ms=\d+/g, "duration_ms=N");
}

/** A transcript's lines, as typed lines and the replies shown for them (a DATA body included). */
function transcript(lines: readonly string[]): Array<{ typed: string } | { reply: string[] }> {
  const items: Array<{ typed: string } | { reply: string[] }> = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^(OK|ERR)\b/.test(line)) items.push({ reply: [line] });
    else if (/^DATA \d+/.test(line)) {
      // The body's lines, then the empty line that ends a DATA reply.
      const reply = [line];
      while (i + 1 < lines.length && lines[i] !== "") reply.push(lines[++i]!);
      items.push({ reply });
    } else items.push({ typed: line });
  }
  return items;
}

/** Waits until the server has logged a line matching `pattern`. */
function logged(server: TaskServer, pattern: RegExp): Promise<void> {
  return eventually(() => server.log.some((line) => pattern.test(line)), `a log line ${pattern}`);
}

Deno.test("the README's nc walkthrough runs line for line as shown", async () => {
  await using dir = await tempDir();
  const [start] = codeBlocks(README, "sh").filter((b) => b.heading === WALKTHROUGH);
  assertEquals(commandsOf(start!.lines), [`deno task server ${README_PORT} 1`]);
  await using server = new TaskServer(["0", "1"], dir.path);
  const port = String(await server.port);
  const sessions: NcSession[] = [];
  /** Lines typed in each session whose replies the README has not shown yet. */
  const pending = new Map<NcSession, number>();
  try {
    const blocks = codeBlocks(README, "console").filter((b) => b.heading === WALKTHROUGH);
    for (const block of blocks) {
      const first = block.lines[0]!;
      if (first.startsWith("$ printf ")) {
        const ran = await runShell(first.slice(2).replaceAll(README_PORT, port), { cwd: dir.path });
        assertEquals(ran.stdout, block.lines.slice(1).join("\n") + "\n", first);
        continue;
      }
      let session: NcSession;
      let lines = block.lines;
      if (first.startsWith("$ ")) {
        assertEquals(first, `$ nc 127.0.0.1 ${README_PORT}`);
        session = new NcSession(Number(port));
        sessions.push(session);
        // The next session's lines assume this one is connected (WHO lists it).
        await logged(server, new RegExp(`connection opened client=${sessions.length}\\b`));
        lines = lines.slice(1);
      } else if (/^(OK|ERR|DATA)\b/.test(first)) {
        session = sessions.find((s) => (pending.get(s) ?? 0) > 0)!;
      } else {
        session = sessions.find((s) => (pending.get(s) ?? 0) === 0)!;
      }
      for (const item of transcript(lines)) {
        if ("typed" in item) {
          await session.type(item.typed);
          pending.set(session, (pending.get(session) ?? 0) + 1);
          continue;
        }
        const got: string[] = [];
        for (const _ of item.reply) got.push(await session.line());
        assertEquals(got.map(masked), item.reply.map(masked));
        pending.set(session, 0);
      }
    }
    // The log lines the README shows, in that order.
    const [log] = codeBlocks(README, "").filter((b) => b.heading === WALKTHROUGH);
    let from = 0;
    for (const shown of log!.lines) {
      const wanted = masked(shown.replace(/^… /, ""));
      const at = server.log.findIndex((line, i) => i >= from && masked(line).endsWith(wanted));
      assertEquals(at >= 0, true, `no log line ends with "${wanted}":\n${server.log.join("\n")}`);
      from = at + 1;
    }
  } finally {
    for (const session of sessions) await session[Symbol.asyncDispose]();
  }
});

Deno.test("the README's client commands print what it shows", async () => {
  await using dir = await tempDir();
  await Deno.copyFile(repoPath(README), `${dir.path}/${README}`);
  // `deno task server`, the first of the two commands, on a free port instead of 12000.
  await using server = new TaskServer(["--port", "0"], dir.path);
  const env = { SWITCHBOARD_PORT: String(await server.port) };
  for (const block of codeBlocks(README, "console").filter((b) => b.heading === CLIENT)) {
    for (let i = 0; i < block.lines.length; i++) {
      const command = block.lines[i]!.slice(2);
      const output: string[] = [];
      while (i + 1 < block.lines.length && !block.lines[i + 1]!.startsWith("$ ")) {
        output.push(block.lines[++i]!);
      }
      const ran = await runShell(command, { cwd: dir.path, env });
      const stdout = output.length === 0 ? "" : output.join("\n") + "\n";
      assertEquals(ran, { code: 0, stdout, stderr: "" }, command);
    }
  }
  for (const block of codeBlocks(README, "sh").filter((b) => b.heading === CLIENT)) {
    for (const command of commandsOf(block.lines)) {
      const ran = await runShell(command, { cwd: dir.path, env });
      assertEquals({ command, code: ran.code, stderr: ran.stderr }, {
        command,
        code: 0,
        stderr: "",
      });
    }
  }
  assertEquals(
    await Deno.readTextFile(`${dir.path}/copy.md`),
    await Deno.readTextFile(repoPath(README)),
  );
});

Deno.test("the README's users and TLS commands work from an empty folder", async () => {
  await using dir = await tempDir();
  const [block] = codeBlocks(README, "sh").filter((b) => b.heading === USERS_AND_TLS);
  await runUsersAndTls(commandsOf(block!.lines), dir.path);
});

Deno.test("the README's live-page command serves the page on the metrics port it names", async () => {
  await using dir = await tempDir();
  const [block] = codeBlocks(README, "sh").filter((b) => b.heading === WATCH);
  const [command] = commandsOf(block!.lines);
  const metricsPort = unusedPort();
  // The README's ports, 12000 and 9464, become free ones.
  const args = command!.split(" ").slice(3)
    .map((word) => word === README_PORT ? "0" : word === "9464" ? String(metricsPort) : word);
  await using server = new TaskServer(args, dir.path);
  await server.port;
  const page = await fetch(`http://127.0.0.1:${metricsPort}/`);
  assertEquals(page.status, 200);
  const html = await page.text();
  assertEquals(html.includes("<title>switchboard live"), true, html.slice(0, 300));
});

Deno.test("the README shows no command that these tests do not run", () => {
  const runHere: Array<[string, RegExp]> = [
    [
      WALKTHROUGH,
      /^deno task server 12000 1$|^nc 127\.0\.0\.1 12000$|^printf .* \| nc -N 127\.0\.0\.1 12000$/,
    ],
    [CLIENT, /^deno task client\b/],
    [USERS_AND_TLS, /^deno task (server|client)\b/],
    [WATCH, /^deno task server 12000 1 --metrics-port 9464$/],
    // `deno task server` starts the client test's server; `deno task test` is this suite.
    ["Two commands", /^deno task (server|test)$/],
  ];
  const unrun = readmeCommands().filter(({ heading, command }) =>
    !runHere.some(([section, form]) => section === heading && form.test(command))
  );
  assertEquals(unrun, []);
});

Deno.test("the README's lines are at most 100 characters", () => {
  const long = Deno.readTextFileSync(repoPath(README)).split("\n")
    .map((line, index) => ({ line: index + 1, length: [...line].length }))
    .filter(({ length }) => length > 100);
  assertEquals(long, []);
});
