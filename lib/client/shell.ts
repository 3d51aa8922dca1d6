/**
 * The interactive shell (SPEC §7): a prompt, one line sent, its reply shown.
 * Lines come from a {@linkcode ReadLine} the entry point gives it, the only
 * tie to the terminal, so that a line editor (history, completion) replaces
 * that function alone. An ERR is shown, not an exit status: people make typos.
 */
import { isBlank } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import type { Printer } from "./output.ts";
import { withWaitNotice } from "./waiting.ts";

/** Reads the next line typed after `prompt`; null at the end of input (Ctrl-D). */
export type ReadLine = (prompt: string) => Promise<string | null>;

/** What the shell shows before each line. */
const SHELL_PROMPT = "switchboard>";
/** Requests after whose `OK` the server has closed and the shell ends (any case). */
const LEAVING_WORDS = ["exit", "quit", "stop"];

/** Options of {@linkcode runShell}. */
export interface ShellOptions {
  printer: Printer;
  readLine: ReadLine;
}

/** Reads lines, sends each, shows each reply, until end of input or a QUIT the server accepts. */
export async function runShell(connection: Connection, options: ShellOptions): Promise<void> {
  const { printer, readLine } = options;
  for (;;) {
    const line = await readLine(SHELL_PROMPT);
    if (line === null) break; // Ctrl-D
    if (isBlank(line)) continue;
    const word = line.trim().split(/\s+/)[0]!.toLowerCase();
    const answered = connection.answered;
    await connection.send(line);
    const reply = await withWaitNotice(connection.read(), { printer, answered });
    printer.print(reply);
    if (LEAVING_WORDS.includes(word) && reply.kind === "ok") break;
  }
}
