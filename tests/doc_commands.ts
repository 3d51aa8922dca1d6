/**
 * Running the commands the README and docs/ show, as a reader would type
 * them: `deno task …` from the reader's own folder (so relative paths go
 * through INIT_CWD), shell blocks with `sh`, and a server in the background
 * whose port replaces the default one in what follows.
 */
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
  language: "sh" | "console",
): Array<{ heading: string; lines: string[] }> {
  const text = Deno.readTextFileSync(repoPath(document));
  const blocks: Array<{ heading: string; lines: string[] }> = [];
  let heading = "";
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, "");
    if (line !== "```" + language) continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i]!);
    blocks.push({ heading, lines: body });
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
    env: options.env ?? {},
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
