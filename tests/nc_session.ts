/** `nc` run the way a person drives it: lines typed, lines read, every read with a deadline. */
import { within } from "./deadlines.ts";

const encoder = new TextEncoder();

/** An interactive nc session: type lines, read what comes back. */
export class NcSession {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(port: number) {
    this.#child = new Deno.Command("nc", {
      args: ["127.0.0.1", String(port)],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#reader = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Types `line` and Enter. */
  async type(line: string): Promise<void> {
    await this.#writer.write(encoder.encode(line + "\n"));
  }

  /** The next line nc prints, within `timeoutMs`. */
  async line(timeoutMs = 10_000): Promise<string> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await within(
        this.#reader.read(),
        timeoutMs,
        () => `a line from nc (so far: ${JSON.stringify(this.#buffer)})`,
      );
      if (done) throw new Error(`nc output ended: ${JSON.stringify(this.#buffer)}`);
      this.#buffer += value;
    }
    const i = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, i);
    this.#buffer = this.#buffer.slice(i + 1);
    return line;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    try {
      this.#child.kill("SIGTERM");
    } catch { /* exited */ }
    await this.#reader.cancel().catch(() => {});
    await this.#child.status;
  }
}
