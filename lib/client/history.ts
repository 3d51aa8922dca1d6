/**
 * The shell's history file, `~/.switchboard_history` (docs/client.md), kept the way
 * redis-cli keeps `~/.rediscli_history`: one line per command, oldest
 * first, at most {@linkcode HISTORY_LIMIT} lines, readable by its owner only
 * (values typed into `KV SET` may be private). A line that authenticates
 * (`AUTH …`, `raw AUTH …`) is never written, since it holds a password.
 *
 * Each new line re-reads the file, appends, trims and replaces the file
 * atomically (temporary file + rename), so two shells open at once both
 * keep their lines and a crash never leaves half a file.
 */
import { dirname } from "@std/path/dirname";
import { join } from "@std/path/join";

/** The history file's name in the home directory. */
export const HISTORY_FILE_NAME = ".switchboard_history";
/**
 * Lines kept: enough for weeks of use, small enough to rewrite on every
 * command (about 50 KB); the oldest lines go first.
 */
export const HISTORY_LIMIT = 1000;
/** Owner read/write only. */
const HISTORY_MODE = 0o600;

/** The history file in `home`, or undefined when the home directory is unknown. */
export function historyPath(home: string | undefined): string | undefined {
  return home === undefined || home === "" ? undefined : join(home, HISTORY_FILE_NAME);
}

/** True for a line that carries a password: `AUTH …`, or `raw AUTH …` (any case). */
export function isSecret(line: string): boolean {
  return /^\s*(raw\s+)?"?auth\b/i.test(line);
}

/** The history file: read once at start, one line added after each command. */
export class HistoryFile {
  readonly #path: string;
  readonly #limit: number;
  /** Adds run one after the other: each reads what the previous one wrote. */
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string, limit = HISTORY_LIMIT) {
    this.#path = path;
    this.#limit = limit;
  }

  /** Resolves once every line added so far is on disk (or failed): before the program exits. */
  async settled(): Promise<void> {
    await this.#queue;
  }

  /** Where the file is. */
  get path(): string {
    return this.#path;
  }

  /** The lines kept, oldest first; none when the file does not exist yet. */
  async load(): Promise<string[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    // Lines from an older version or another tool are filtered the same way.
    return text.split("\n").filter((line) => line.trim() !== "" && !isSecret(line))
      .slice(-this.#limit);
  }

  /**
   * Adds `line` unless it is blank, a secret, or the same as the last line;
   * the file keeps the newest {@linkcode HISTORY_LIMIT} lines.
   */
  add(line: string): Promise<void> {
    const adding = this.#queue.then(() => this.#add(line));
    this.#queue = adding.catch(() => {});
    return adding;
  }

  async #add(line: string): Promise<void> {
    if (line.trim() === "" || isSecret(line) || line.includes("\n")) return;
    const lines = await this.load();
    if (lines.at(-1) === line) return;
    lines.push(line);
    const text = lines.slice(-this.#limit).join("\n") + "\n";
    const temp = join(
      dirname(this.#path),
      `${HISTORY_FILE_NAME}.tmp-${crypto.randomUUID().slice(0, 8)}`,
    );
    try {
      await Deno.writeTextFile(temp, text, { createNew: true, mode: HISTORY_MODE });
      await Deno.rename(temp, this.#path);
    } finally {
      await Deno.remove(temp).catch(() => {});
    }
  }
}
