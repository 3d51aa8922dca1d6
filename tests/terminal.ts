/**
 * A program under a real pseudo-terminal (`script`, from util-linux's
 * bsdutils): type lines and control keys, read the screen. What a person at
 * a terminal does, for the shell and Ctrl-C tests.
 */

const encoder = new TextEncoder();

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
  /** Everything the program wrote to the terminal so far. */
  screen = "";

  /** Starts `command` (a shell command line) in a pseudo-terminal. */
  constructor(command: string, options: TerminalOptions = {}) {
    this.#child = new Deno.Command("script", {
      args: ["-qfec", command, "/dev/null"],
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

  /** Resolves once `text` is on the screen; throws after `timeoutMs` showing the screen. */
  async waitFor(text: string | RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const seen = () =>
      typeof text === "string" ? this.screen.includes(text) : text.test(this.screen);
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

  /** The exit code, once the program ends (within `timeoutMs`, or it is killed and this throws). */
  async exit(timeoutMs = 30_000): Promise<number> {
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
}
