/**
 * The interactive shell (docs/client.md), the way redis-cli feels: a prompt, a
 * line, its reply. A line is sent to the server as typed, except the
 * client's own commands (`ls`, `put`, `get`, `rm`, `raw`, `hello` with
 * something missing, `kv keys`, `help`, `reconnect`, `exit`), which run as
 * they do on the command line. An ERR is shown, not an exit status: people
 * make typos.
 *
 * While the prompt waits, the connection is watched, so a server that shuts
 * down or drops the connection is announced at once, above the line being
 * typed; the next command connects again (so does `reconnect`), and the
 * shell opens even when no server answers yet. Ctrl-C while a reply is awaited
 * abandons it: the connection is closed (a late reply could otherwise be
 * taken for the next one's) and a new one opened.
 */
import { isBlank, parseReplyLine, tokenize } from "../protocol/mod.ts";
import { UsageError } from "../usage_error.ts";
import {
  commandUsageError,
  FILE_PUT_REFUSED,
  isFilePut,
  parseCommand,
  usageOf,
} from "./commands.ts";
import { LEAVING_WORDS, OWN_COMMANDS } from "./completion.ts";
import { AuthRefusedError, ConnectError, type Connection, type Unasked } from "./connection.ts";
import type { HistoryFile } from "./history.ts";
import type { LineEditor } from "./line_editor.ts";
import { LocalFileError, localFileError } from "./local_files.ts";
import type { PathBase } from "../paths.ts";
import { runKeys, runRequest, runTransfer } from "./one_shot.ts";
import type { Printer } from "./output.ts";
import type { SyncByteSink } from "../io.ts";
import { IntegrityError } from "./transfer.ts";
import { complete as completeCommand } from "./completion.ts";
import { completePath, RemoteNames } from "./path_completion.ts";

/** What the shell shows before each line while connected to `server` (docs/client.md#the-shell). */
export function shellPrompt(server: string): string {
  return `switchboard ${server}> `;
}
/** The prompt while there is no connection; the next command connects first. */
export const DISCONNECTED_PROMPT = "switchboard (not connected)> ";
/** The hint after a lost connection: nothing to type but the next command. */
const RECONNECT_HINT = " (the next command connects again)";
/**
 * How long, after an unasked line (`ERR shutdown …`), the shell waits to see
 * the server close before saying so: the server closes right after that
 * line, so this only bounds a server that would not.
 */
const CLOSE_GRACE_MS = 2000;

/** The shell's own help; the server's HELP follows it. */
const SHELL_HELP = `Type the server's commands as with nc (PING, CALC add 2 3, KV SET k v, ...)
or the client's own:
  ls                              files on the server
  put <local> [name]              upload a file (progress, sha256 verified)
  get <name> [local] [--force]    download a file atomically (sha256 verified)
  rm <name>                       delete a file on the server
  hello [name] [id] [github]      identify yourself (asks for what is missing)
  kv keys [prefix]                every key, however many
  raw <line>                      send the rest of the line exactly as typed
  reconnect                       open a new connection (a command typed while not
                                  connected connects first)
  exit, quit, Ctrl-D              leave
Tab completes commands, local paths after put and the server's files after get and rm;
the arrows recall history (~/.switchboard_history); Ctrl-L clears the screen; Ctrl-C clears
the line or abandons a reply that is taking too long.
The server's commands:`;

/** What the shell needs of the line editor (lib/client/line_editor.ts). */
export type ShellEditor = Pick<
  LineEditor,
  "readLine" | "ask" | "announce" | "onInterrupt" | "setCompletion"
>;

/** Options of {@linkcode runShell}. */
export interface ShellOptions {
  editor: ShellEditor;
  printer: Printer;
  /** Opens a new connection (`reconnect`, and after a reply was abandoned); throws ConnectError. */
  connect: () => Promise<Connection>;
  /** The server as the prompt names it: `127.0.0.1:12000`, with the user and `tls` when used. */
  server: string;
  /** Where typed lines are kept across sessions; undefined keeps none. */
  history?: HistoryFile | undefined;
  /** Where relative local paths start (INIT_CWD) and `~` points. */
  base: PathBase;
  /** Where a transfer's progress bar is drawn. */
  progressSink: SyncByteSink | undefined;
}

/**
 * Reads lines, runs each, shows each reply, until Ctrl-D or a QUIT the
 * server accepts. With no `connection` (no server answered yet), the
 * first command connects.
 */
export async function runShell(
  connection: Connection | undefined,
  options: ShellOptions,
): Promise<void> {
  await new Shell(connection, options).run();
}

class Shell {
  readonly #options: ShellOptions;
  #connection: Connection | undefined;
  #historyFailed = false;
  /** The server's file names for Tab, fetched on the shell's connection. */
  readonly #remoteNames = new RemoteNames();

  constructor(connection: Connection | undefined, options: ShellOptions) {
    this.#connection = connection;
    this.#options = options;
    options.editor.setCompletion((line) =>
      completePath(line, {
        base: options.base,
        remoteNames: () => this.#remoteNames.fetch(this.#connection),
      }) ??
        completeCommand(line)
    );
  }

  async run(): Promise<void> {
    for (;;) {
      const line = await this.#nextLine();
      if (line === null) {
        // Ctrl-D: the cursor is still after the prompt; the terminal's next prompt gets a line.
        this.#options.printer.info("");
        break;
      }
      if (isBlank(line)) continue;
      this.#remember(line);
      if (await this.#runLine(line)) break;
    }
    this.#connection?.close();
    await this.#options.history?.settled();
  }

  /** The next typed line; meanwhile, a connection the server ends is announced at once. */
  async #nextLine(): Promise<string | null> {
    const { editor } = this.#options;
    const typing = editor.readLine(
      this.#connection ? shellPrompt(this.#options.server) : DISCONNECTED_PROMPT,
    );
    for (;;) {
      const connection = this.#connection;
      if (connection === undefined) return await typing;
      const typed = await Promise.race([
        typing.then((line) => ({ line })),
        connection.watch().then(() => undefined),
      ]);
      if (typed !== undefined) return typed.line;
      // The line that arrived may be Tab's FILE LIST reply, taken by the completion.
      const completing = this.#remoteNames.fetching;
      await completing;
      if (connection.closed) {
        // This side closed it: Tab's FILE LIST was answered too late (path_completion.ts).
        this.#connection = undefined;
        editor.announce(
          `no file list from the server in time${RECONNECT_HINT}`,
          DISCONNECTED_PROMPT,
        );
        continue;
      }
      if (completing !== undefined) continue;
      const unasked = await connection.unasked(CLOSE_GRACE_MS);
      this.#connection = undefined;
      editor.announce(endMessage(unasked), DISCONNECTED_PROMPT);
    }
  }

  /** Adds `line` to the history file; a file that cannot be written is said once, then ignored. */
  #remember(line: string): void {
    const { history, printer } = this.#options;
    history?.add(line).catch((error: unknown) => {
      if (this.#historyFailed) return;
      this.#historyFailed = true;
      printer.error(`history not kept: ${localFileError(history.path, error).message}`);
    });
  }

  /** Runs one line; resolves to true when the shell should end. */
  async #runLine(line: string): Promise<boolean> {
    // A FILE LIST of Tab's still in flight answers first; its names are stale after this line.
    await this.#remoteNames.fetching;
    this.#remoteNames.forget();
    let words: string[] | undefined;
    try {
      words = tokenize(line);
    } catch {
      words = undefined; // unbalanced quotes: the server says what is wrong
    }
    const name = words?.[0]?.toLowerCase();
    if (words === undefined || name === undefined) return await this.#send(line);
    if (LEAVING_WORDS.includes(name)) return await this.#leave(line);
    if (name === "reconnect") {
      if (words.length > 1) this.#options.printer.error(`reconnect takes no arguments`);
      else await this.#reconnect();
      return false;
    }
    if (name === "help") return await this.#help(words, line);
    // Its payload would have to be typed while the shell waits for the reply, which it cannot.
    if (isFilePut(words) || (name === "raw" && isFilePut(words.slice(1)))) {
      this.#options.printer.error(FILE_PUT_REFUSED);
      return false;
    }
    if (name === "raw") {
      if (words.length < 2) {
        this.#options.printer.error(commandUsageError("raw", "raw needs a line").message);
      } else await this.#send(line.replace(/^\s*\S+[ \t]/, ""));
      return false;
    }
    const ownLine = OWN_COMMANDS.includes(name) ||
      (name === "hello" && words.length < 4) ||
      (name === "kv" && words[1]?.toLowerCase() === "keys");
    return ownLine ? await this.#clientCommand(words) : await this.#send(line);
  }

  /** Sends `line` as typed and prints its reply. */
  async #send(line: string): Promise<false> {
    await this.#withConnection((connection) =>
      runRequest(connection, line, { printer: this.#options.printer, notice: true })
    );
    return false;
  }

  /**
   * QUIT (or EXIT, STOP): leaves once the server said bye. A connection
   * that has had no reply yet may be queued, and would answer only when a
   * slot frees: it is simply closed, which takes it out of the queue, and
   * the shell says the same `bye` itself, so that leaving reads the same
   * whenever it happens.
   */
  async #leave(line: string): Promise<boolean> {
    if (!this.#connection?.answered) {
      this.#options.printer.info("bye");
      return true;
    }
    let left = false;
    await this.#withConnection(async (connection) => {
      left = !await runRequest(connection, line, { printer: this.#options.printer, notice: true });
    });
    return left || this.#connection === undefined;
  }

  /** `help`: the shell's commands and the server's HELP; `help <command>` for one. */
  async #help(words: string[], line: string): Promise<false> {
    const { printer } = this.#options;
    const topic = words[1]?.toLowerCase();
    if (topic !== undefined && (OWN_COMMANDS.includes(topic) || topic === "reconnect")) {
      printer.info(`usage: ${usageOf(topic) ?? "reconnect"}`);
      return false;
    }
    if (topic === undefined) printer.info(SHELL_HELP);
    return await this.#send(topic === undefined ? "HELP" : line);
  }

  /** `ls`, `put`, `get`, `rm`, `hello` (asking), `kv keys`: as on the command line. */
  async #clientCommand(words: string[]): Promise<false> {
    const { printer, editor, base, progressSink } = this.#options;
    const force = words.includes("--force");
    let command;
    try {
      command = await parseCommand(words.filter((word) => word !== "--force"), {
        force,
        ask: (question) => editor.ask(question),
      });
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      printer.error(error.message);
      return false;
    }
    await this.#withConnection((connection) => {
      switch (command.kind) {
        case "request":
          return runRequest(connection, command.line, { printer, notice: true });
        case "keys":
          return runKeys(connection, command.prefix, { printer, notice: true });
        case "top":
          printer.error("top takes the whole terminal: run it as switchboard-client top");
          return Promise.resolve(false);
        default:
          return runTransfer(connection, command, { printer, force, progressSink, base });
      }
    });
    return false;
  }

  /**
   * Runs `work` on the connection. Ctrl-C meanwhile closes the connection
   * and opens a new one; a lost connection leaves the shell not connected;
   * a local file or integrity problem is one line, and if it had to close
   * the connection (an upload cut short), a new one is opened.
   */
  async #withConnection(work: (connection: Connection) => Promise<unknown>): Promise<void> {
    const { printer, editor } = this.#options;
    if (this.#connection === undefined) await this.#reconnect();
    const connection = this.#connection;
    if (connection === undefined) return;
    let interrupted = false;
    using _interrupt = editor.onInterrupt(() => {
      interrupted = true;
      // The editor's ^C comes next: on a line of its own, not after the notice.
      printer.clearNotice();
      connection.close();
    });
    try {
      await work(connection);
      return;
    } catch (error) {
      if (interrupted) {
        printer.error("interrupted: the reply was abandoned and its connection closed");
      } else if (error instanceof LocalFileError) {
        printer.error(error.message);
      } else if (error instanceof IntegrityError) {
        printer.error(`integrity check failed: ${error.message}`);
      } else if (error instanceof ConnectError) {
        printer.error(error.message);
        connection.close();
        this.#connection = undefined;
        return;
      } else {
        throw error;
      }
    }
    if (connection.closed) await this.#reconnect();
  }

  /** Closes the connection (if any) and opens a new one. */
  async #reconnect(): Promise<void> {
    const { printer, connect } = this.#options;
    this.#connection?.close();
    this.#connection = undefined;
    try {
      this.#connection = await connect();
      printer.info(`connected to ${this.#connection.where}`);
    } catch (error) {
      // A server restarted with other users may refuse the AUTH: said, and still not connected.
      if (error instanceof AuthRefusedError) printer.print(error.reply);
      else if (error instanceof ConnectError) printer.error(error.message);
      else throw error;
    }
  }
}

/**
 * What to say when the server ended the connection while the prompt
 * waited: its closing line in its own words (`ERR shutdown` is "shutting
 * down"), and only what is known (closed by the server, or by us after an
 * unasked line).
 */
function endMessage(unasked: Unasked): string {
  const hint = RECONNECT_HINT;
  if (unasked.line === undefined) return `server closed the connection${hint}`;
  let reason = unasked.line;
  try {
    const reply = parseReplyLine(unasked.line);
    if (reply.kind === "err") {
      reason = reply.code === "shutdown" ? "shutting down" : `${reply.code}: ${reply.message}`;
    }
  } catch {
    // Not a reply line at all: quoted as it came.
  }
  return unasked.closed
    ? `server closed the connection: ${reason}${hint}`
    : `the server sent "${unasked.line}" unasked; connection closed${hint}`;
}
