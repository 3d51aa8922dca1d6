/**
 * The shell's line editor: Node's readline (`node:readline`, which Deno
 * provides) on the terminal, for arrow keys, history recall, Ctrl-A/E/U/W
 * and Tab completion, rather than an editor of our own. This file adds what
 * the shell needs on top of it:
 *
 * - lines are asked for one at a time (`readLine`, `ask`); lines typed while
 *   a reply is awaited are kept, in order, for the next `readLine`;
 * - Ctrl-C clears the line being typed (as in bash and redis-cli), ends a
 *   question, and while a reply is awaited goes to `onInterrupt`;
 * - `announce` prints above the line being typed, which stays as it was;
 * - Tab completion may take a moment (the server's file names), and Ctrl-L
 *   clears the screen (readline's own key);
 * - answers to questions, and lines `keep` refuses (passwords), never enter
 *   the history the up arrow recalls.
 *
 * Node's readline falls back to a bare mode without history or completion
 * when `TERM` is `dumb`; on a real terminal it is the full editor.
 */
import { clearLine, createInterface, cursorTo, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";

/** Options of {@linkcode LineEditor}. */
export interface LineEditorOptions {
  /** The terminal's input (the program's stdin). */
  input: Readable;
  /** The terminal's output (the program's stdout). */
  output: Writable;
  /** Lines the up arrow recalls at start, oldest first. */
  history: readonly string[];
  /** Lines the up arrow can recall. */
  historyLimit: number;
  /** Whether a typed line may be recalled (false for a line with a password). */
  keep: (line: string) => boolean;
  /** Tab completion: the candidates for the word being typed, and that word. */
  complete: Completer;
}

/** Tab completion: the candidates for the word being typed, and that word (or a promise of them). */
export type Completer = (line: string) => [string[], string] | Promise<[string[], string]>;

/** Lines from a person at a terminal, with history, completion and Ctrl-C that clears. */
export class LineEditor {
  readonly #rl: Interface;
  readonly #output: Writable;
  /** Lines typed while nothing was reading them (typed ahead during a slow reply). */
  readonly #typedAhead: string[] = [];
  #waiter: ((line: string | null) => void) | undefined;
  #ended = false;
  /** A prompt is shown and a line is being typed. */
  #reading = false;
  /** The line being typed answers a question: it stays out of the history. */
  #asking = false;
  #onInterrupt: (() => void) | undefined;
  #complete: Completer;

  constructor(options: LineEditorOptions) {
    this.#output = options.output;
    this.#complete = options.complete;
    this.#rl = createInterface({
      input: options.input,
      output: options.output,
      terminal: true,
      // Node's history is newest first.
      history: [...options.history].reverse(),
      historySize: options.historyLimit,
      // Two parameters: readline then waits for the callback (a completion may ask the server).
      completer: (
        line: string,
        done: (error: null | Error, result: [string[], string]) => void,
      ) => {
        Promise.resolve().then(() => this.#complete(line)).then(
          (result) => done(null, result),
          () => done(null, [[], line]),
        );
      },
    });
    this.#rl.on("history", (history: string[]) => {
      // Node has just put the new line first; an answer or a secret does not stay.
      if (history.length > 0 && (this.#asking || !options.keep(history[0]!))) history.shift();
    });
    this.#rl.on("line", (line: string) => this.#deliver(line));
    this.#rl.on("close", () => {
      this.#ended = true;
      this.#deliver(null);
    });
    this.#rl.on("SIGINT", () => this.#interrupt());
  }

  /** The next line typed after `prompt`; null once input ends (Ctrl-D on an empty line). */
  readLine(prompt: string): Promise<string | null> {
    return this.#read(prompt, false);
  }

  /** Asks `question`; the answer is not recalled by the up arrow. Null on Ctrl-C or Ctrl-D. */
  ask(question: string): Promise<string | null> {
    return this.#read(question, true);
  }

  /**
   * Prints `text` as a line of its own: above the line being typed, which
   * is redrawn as it was (with `prompt` as its new prompt, if given).
   */
  announce(text: string, prompt?: string): void {
    if (prompt !== undefined) this.#rl.setPrompt(prompt);
    if (!this.#reading) {
      this.#output.write(text + "\n");
      return;
    }
    clearLine(this.#output, 0);
    cursorTo(this.#output, 0);
    this.#output.write(text + "\n");
    this.#rl.prompt(true);
  }

  /** Calls `handler` on Ctrl-C while no line is being typed (a reply is awaited), until disposed. */
  onInterrupt(handler: () => void): Disposable {
    this.#onInterrupt = handler;
    return {
      [Symbol.dispose]: () => {
        if (this.#onInterrupt === handler) this.#onInterrupt = undefined;
      },
    };
  }

  /** Replaces Tab completion (the shell adds paths and the server's file names to it). */
  setCompletion(complete: Completer): void {
    this.#complete = complete;
  }

  /** Gives the terminal back (its normal mode, no raw keys). */
  close(): void {
    this.#rl.close();
  }

  #read(prompt: string, asking: boolean): Promise<string | null> {
    const typed = this.#typedAhead.shift();
    if (typed !== undefined) return Promise.resolve(typed);
    if (this.#ended) return Promise.resolve(null);
    this.#asking = asking;
    this.#reading = true;
    this.#rl.setPrompt(prompt);
    this.#rl.prompt();
    return new Promise((resolve) => this.#waiter = resolve);
  }

  #deliver(line: string | null): void {
    const waiter = this.#waiter;
    if (waiter === undefined) {
      if (line !== null) this.#typedAhead.push(line);
      return;
    }
    this.#waiter = undefined;
    this.#reading = false;
    this.#asking = false;
    waiter(line);
  }

  #interrupt(): void {
    if (!this.#reading) {
      // The handler first: it may have a line to erase (a wait notice) before the ^C.
      this.#onInterrupt?.();
      this.#output.write("^C\n");
      return;
    }
    // End of line, then delete to its start: readline's own line is empty, then ^C ends it.
    this.#rl.write(null, { ctrl: true, name: "e" });
    this.#rl.write(null, { ctrl: true, name: "u" });
    this.#output.write("^C\n");
    if (this.#asking) this.#deliver(null);
    else this.#rl.prompt();
  }
}
