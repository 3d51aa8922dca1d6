/**
 * A program under a real pseudo-terminal (`script`, from util-linux's
 * bsdutils): type lines and control keys, read the screen. What a person at
 * a terminal does, for the shell and Ctrl-C tests.
 */

const encoder = new TextEncoder();
/**
 * Time between keys sent by {@linkcode Terminal.press}: a line editor takes
 * keys that arrive in one burst for a paste (Node's readline then does not
 * complete on Tab), so a person's keys come one write at a time.
 */
const KEY_GAP_MS = 150;
/**
 * Terminal control sequences (CSI: cursor moves, erasing, colors): a line
 * editor redraws its line with them, between the characters a person sees.
 */
// deno-lint-ignore no-control-regex -- ESC is exactly what is matched.
const CONTROL_SEQUENCE = /\x1b\[[0-9;?]*[ -\/]*[@-~]/g;

/** Options of {@linkcode Terminal}. */
export interface TerminalOptions {
  env?: Record<string, string>;
  cwd?: string;
}

/** One program running in its own pseudo-terminal. */
export class Terminal {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;
  #exited = false;
  /** Everything the program wrote to the terminal so far. */
  screen = "";

  /** Starts `command` (one simple command: a program and its arguments) in a pseudo-terminal. */
  constructor(command: string, options: TerminalOptions = {}) {
    // `script` runs the command through $SHELL -c. bash then execs it, but
    // dash (the /bin/sh of Debian, and a CI's shell when SHELL is unset)
    // stays as its parent in the terminal's foreground group and reports a
    // Ctrl-C as its own exit 130. `exec` makes the program the terminal's
    // only foreground process, as when a person starts it from a shell.
    this.#child = new Deno.Command("script", {
      args: ["-qfec", `exec ${command}`, "/dev/null"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env: { NO_COLOR: "1", TERM: "dumb", ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const output = this.#child.stdout.pipeThrough(new TextDecoderStream());
    this.#reading = (async () => {
      for await (const chunk of output) this.screen += chunk;
    })();
  }

  /** What the program wrote, without control sequences: the characters, CR and LF. */
  get text(): string {
    return this.screen.replace(CONTROL_SEQUENCE, "");
  }

  /**
   * Resolves once `text` is in {@linkcode text}; throws after `timeoutMs`
   * showing the screen.
   */
  async waitFor(text: string | RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const seen = () => typeof text === "string" ? this.text.includes(text) : text.test(this.text);
    while (!seen()) {
      if (Date.now() > deadline) {
        throw new Error(`never saw ${String(text)} on the screen:\n${this.screen}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Types `line` and Enter. */
  async type(line: string): Promise<void> {
    await this.#writer.write(encoder.encode(line + "\r"));
  }

  /** Sends raw keys (e.g. "\x03" for Ctrl-C, "\t" for Tab, "\x1b[A" for the up arrow). */
  async keys(keys: string): Promise<void> {
    await this.#writer.write(encoder.encode(keys));
  }

  /** Sends each of `keys` as its own write, a moment apart, as a person types them. */
  async press(...keys: string[]): Promise<void> {
    for (const [index, key] of keys.entries()) {
      if (index > 0) await new Promise((resolve) => setTimeout(resolve, KEY_GAP_MS));
      await this.keys(key);
    }
  }

  /** The exit code, once the program ends (within `timeoutMs`, or it is killed and this throws). */
  async exit(timeoutMs = 30_000): Promise<number> {
    this.#exited = true;
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, timeoutMs);
    const status = await this.#child.status;
    clearTimeout(timer);
    await this.#writer.close().catch(() => {});
    await this.#reading;
    if (status.signal === "SIGKILL") {
      throw new Error(`the program did not end within ${timeoutMs} ms:\n${this.screen}`);
    }
    return status.code;
  }

  /** `await using`: a program still running when the test ends (it failed) is killed. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#exited) return;
    await this.exit(0).catch(() => {});
  }
}
