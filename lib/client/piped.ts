/**
 * Piped mode (docs/client.md): with stdin not a terminal, every line is sent and
 * every reply printed, in order. Lines are sent as they are read, without
 * waiting for replies (pipelining), while replies are read and printed as
 * they come; it goes on after an ERR, and stops after the server's `OK bye`.
 *
 * Stdin is forwarded byte for byte, as nc would (a line that is not UTF-8
 * reaches the server as it is, and gets its `ERR bad-request`); it is only
 * read to count the replies to expect. A `FILE PUT <name> <size>` line is
 * followed by exactly `<size>` bytes of stdin, which are its payload, not
 * lines: it expects one reply.
 */
import { isBlank, type ParsedReply, tokenize } from "../protocol/mod.ts";
import { isFilePut } from "./commands.ts";
import { ConnectError, type Connection } from "./connection.ts";
import { LocalFileError } from "./local_files.ts";
import type { Printer } from "./output.ts";

const LF = 0x0a;
const encoder = new TextEncoder();
/** Lines are decoded only to be looked at (blank? FILE PUT? the --json shape), never to be sent. */
const lenient = new TextDecoder();

/** Sends every line of `input`, prints every reply; resolves to true if any reply was an ERR. */
export async function runPiped(
  connection: Connection,
  input: ReadableStream<Uint8Array>,
  printer: Printer,
): Promise<boolean> {
  const requests = new RequestCounter();
  let inputDone = false;
  let inputError: unknown;
  let wake: () => void = () => {};
  const sender = (async () => {
    try {
      for await (const chunk of input) {
        requests.take(chunk);
        wake();
        await connection.write(chunk);
      }
      const end = requests.end();
      wake();
      // A last line without its LF is a line all the same: the LF is added.
      if (end.addLf) await connection.write(encoder.encode("\n"));
    } catch (error) {
      inputError = error;
      // The server may be waiting for payload bytes that will never come: closing
      // the connection is what makes it discard the upload (docs/protocol.md#commands).
      if (error instanceof LocalFileError) connection.close();
    } finally {
      inputDone = true;
      wake();
    }
  })();
  let failed = false;
  let answered = 0;
  let quitSent = false;
  for (;;) {
    while (answered === requests.expected && !inputDone) {
      await new Promise<void>((r) => wake = r);
    }
    if (inputError instanceof LocalFileError) throw inputError;
    if (answered === requests.expected && inputDone) break;
    let reply: ParsedReply;
    try {
      reply = await connection.read();
    } catch (error) {
      if (inputError instanceof LocalFileError) throw inputError;
      // QUIT closes the connection: the server said bye, that is not a failure.
      if (error instanceof ConnectError && answered > 0 && quitSent) break;
      throw error;
    }
    answered++;
    if (reply.kind === "ok" && reply.text === "bye") quitSent = true;
    if (printer.print(reply, requests.next())) failed = true;
    if (quitSent) break;
  }
  // After QUIT, stdin may go on (a generator that never ends): it is not waited for.
  if (!quitSent) await sender;
  return failed;
}

/**
 * Reads stdin's bytes as the server will: lines, blank lines that get no
 * reply, and FILE PUT payloads that are not lines. Counts the replies to
 * expect and keeps each request (decoded) for the --json shape of its reply.
 */
class RequestCounter {
  /** Replies the bytes taken so far ask for. */
  expected = 0;
  /** The requests whose replies have not been printed yet, in order. */
  readonly #pending: string[] = [];
  /** The start of a line whose LF has not come yet. */
  #partial: Uint8Array[] = [];
  /** Payload bytes of the last FILE PUT still to come, and its header. */
  #payloadLeft = 0;
  #payloadOf = "";

  /** The request the next reply answers. */
  next(): string | undefined {
    return this.#pending.shift();
  }

  /** Takes the next bytes of stdin. */
  take(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#payloadLeft > 0) {
        const taken = Math.min(this.#payloadLeft, chunk.length - at);
        this.#payloadLeft -= taken;
        at += taken;
        continue;
      }
      const lf = chunk.indexOf(LF, at);
      if (lf === -1) {
        this.#partial.push(chunk.slice(at));
        return;
      }
      this.#line([...this.#partial, chunk.subarray(at, lf)]);
      this.#partial = [];
      at = lf + 1;
    }
  }

  /**
   * Stdin has ended: a last line without a LF counts (the caller sends its
   * LF); a FILE PUT payload cut short is a LocalFileError.
   */
  end(): { addLf: boolean } {
    if (this.#payloadLeft > 0) {
      throw new LocalFileError(
        `stdin: ended ${this.#payloadLeft} bytes short of the payload of "${this.#payloadOf}"; ` +
          `nothing was stored`,
      );
    }
    const parts = this.#partial;
    this.#partial = [];
    if (parts.length === 0) return { addLf: false };
    this.#line(parts);
    return { addLf: true };
  }

  #line(parts: Uint8Array[]): void {
    const line = parts.map((part) => lenient.decode(part, { stream: true })).join("") +
      lenient.decode();
    const request = line.replace(/\r$/, "");
    // Blank lines get no reply (docs/protocol.md#commands): none is waited for.
    if (isBlank(request)) return;
    this.expected++;
    this.#pending.push(request);
    const size = filePutSize(request);
    if (size !== undefined && size > 0) {
      this.#payloadLeft = size;
      this.#payloadOf = request;
    }
  }
}

/** The payload size a `FILE PUT <name> <size>` line announces; undefined for any other line. */
export function filePutSize(line: string): number | undefined {
  let words;
  try {
    words = tokenize(line);
  } catch {
    return undefined; // the server answers ERR bad-request and closes: no payload is read
  }
  if (words.length !== 4 || !isFilePut(words)) return undefined;
  // A size that is not a number is ERR bad-args and a closed connection: no payload either.
  return /^\d+$/.test(words[3]!) ? Number(words[3]) : undefined;
}
