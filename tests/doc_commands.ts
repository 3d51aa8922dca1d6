/**
 * Running the commands the README and docs/ show, as a reader would type
 * them: `deno task …` from the reader's own folder (so relative paths go
 * through INIT_CWD), shell blocks with `sh`, and a server in the background
 * whose port replaces the default one in what follows.
 */
import { assertEquals } from "@std/assert";
import { repoPath } from "./helpers.ts";

const decoder = new TextDecoder();
const CONFIG = repoPath("deno.json");

/** What a command printed and how it ended. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** The ```sh (or ```console) blocks of a markdown file, each with the heading it sits under. */
export function codeBlocks(
  document: string,
  language: "sh" | "console" | "",
): Array<{ heading: string; lines: string[] }> {
  const text = Deno.readTextFileSync(repoPath(document));
  const blocks: Array<{ heading: string; lines: string[] }> = [];
  let heading = "";
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, "");
    if (!line.startsWith("```")) continue;
    // Every block is skipped whole, so that a closing fence never opens one.
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i]!);
    if (line === "```" + language) blocks.push({ heading, lines: body });
  }
  return blocks;
}

/** Shell lines with `\` continuations joined, comments and blank lines dropped. */
export function commandsOf(lines: readonly string[]): string[] {
  const joined = lines.join("\n").replace(/\\\n\s*/g, "");
  return joined.split("\n").map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/**
 * Runs `script` with `sh -eu` in `cwd`, where `deno task` runs this
 * repository's tasks (as if `cwd` were inside a clone).
 */
export async function runShell(
  script: string,
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<Ran> {
  const prelude = `deno() { if [ "$1" = task ]; then shift; command "${Deno.execPath()}" task ` +
    `-q --config "${CONFIG}" "$@"; else command "${Deno.execPath()}" "$@"; fi; }\n`;
  const child = new Deno.Command("sh", {
    args: ["-eu", "-c", prelude + script],
    cwd: options.cwd,
    env: readerEnvironment(options.env),
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * This process's environment as a reader's shell has it, plus `added`:
 * without `INIT_CWD`, which `deno task test` sets to the repository and
 * `deno task` keeps when it is set, so that the reader's commands start
 * in their own folder.
 */
function readerEnvironment(added: Record<string, string> = {}): Record<string, string> {
  const env = { ...Deno.env.toObject(), ...added };
  delete env.INIT_CWD;
  return env;
}

/** A `deno task server …` running in the background; `await using` stops it with SIGTERM. */
export class TaskServer implements AsyncDisposable {
  readonly log: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #logDone: Promise<void>;
  readonly port: Promise<number>;

  /** Starts `deno task server ARGS` in `cwd`; ARGS should pick port 0 (learned from the log). */
  constructor(args: readonly string[], cwd: string) {
    const child = this.#child = new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "--config", CONFIG, "server", ...args],
      cwd,
      env: readerEnvironment(),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let found: (port: number) => void = () => {};
    let failed: (error: Error) => void = () => {};
    this.port = new Promise((resolve, reject) => [found, failed] = [resolve, reject]);
    const timer = setTimeout(
      () => failed(new Error("the server did not listen within 20 s")),
      20_000,
    );
    this.#logDone = (async () => {
      let partial = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          this.log.push(line);
          const match = /listening on .*?:(\d+),/.exec(line);
          if (match) found(Number(match[1]));
        }
      }
      failed(new Error(`the server exited before listening:\n${this.log.join("\n")}`));
    })().finally(() => clearTimeout(timer));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.#child.status;
    await this.#logDone;
    await this.port.catch(() => {});
  }
}

/**
 * Runs the three commands a reader types once the certificates are made
 * (docs/security.md#a-certificate-for-a-private-network, and the README):
 * `passwd` for ada, the server with users and TLS, a client that checks the
 * certificate and signs in. The openssl lines of docs/security.md make the
 * pair in `cwd` first.
 */
export async function runUsersAndTls(commands: readonly string[], cwd: string): Promise<void> {
  const [make] = codeBlocks("docs/security.md", "sh").filter((block) =>
    block.heading === "A certificate for a private network"
  );
  const made = await runShell(make!.lines.join("\n"), { cwd });
  assertEquals(made.code, 0, made.stderr);
  const [passwd, server, client] = commands;
  assertEquals(passwd, "deno task server passwd users.txt ada write");
  // passwd reads the password from stdin when it is not a terminal; it prints nothing.
  const added = await runShell(passwd!, { cwd, stdin: "correct horse\n" });
  assertEquals(added, { code: 0, stdout: "", stderr: "" });
  const serverArgs = server!.split(" ").slice(3);
  assertEquals(server, `deno task server ${serverArgs.join(" ")}`);
  await using running = new TaskServer([...serverArgs, "--port", "0"], cwd);
  const port = await running.port;
  assertEquals(running.log.filter((line) => / WARN /.test(line)), []);
  const pinged = await runShell(client!, {
    cwd,
    env: { SWITCHBOARD_PORT: String(port), SWITCHBOARD_PASSWORD: "correct horse" },
  });
  assertEquals(pinged, { code: 0, stdout: "PONG\n", stderr: "" });
}
