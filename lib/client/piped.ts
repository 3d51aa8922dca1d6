/**
 * Piped mode (SPEC §7): with stdin not a terminal, every line is sent and
 * every reply printed, in order. Lines are sent as they are read, without
 * waiting for replies (pipelining), while replies are read and printed as
 * they come; it goes on after an ERR, and stops after the server's `OK bye`.
 */
import { isBlank, type ParsedReply } from "../protocol/mod.ts";
import { ConnectError, type Connection } from "./connection.ts";
import type { Printer } from "./output.ts";

const encoder = new TextEncoder();

/** Sends every line of `input`, prints every reply; resolves to true if any reply was an ERR. */
export async function runPiped(
  connection: Connection,
  input: ReadableStream<Uint8Array>,
  printer: Printer,
): Promise<boolean> {
  let expected = 0;
  // The request each reply answers, in order: it decides the reply's --json shape.
  const requests: string[] = [];
  let inputDone = false;
  let wake: () => void = () => {};
  const sender = (async () => {
    let partial = "";
    const flush = async (lines: string[]) => {
      if (lines.length === 0) return;
      // Blank lines get no reply (SPEC §4): do not wait for one.
      const asked = lines.map((l) => l.replace(/\r$/, "")).filter((l) => !isBlank(l));
      requests.push(...asked);
      expected += asked.length;
      wake();
      await connection.write(encoder.encode(lines.join("\n") + "\n"));
    };
    for await (const chunk of input.pipeThrough(new TextDecoderStream())) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      await flush(lines);
    }
    await flush(partial === "" ? [] : [partial]);
    inputDone = true;
    wake();
  })();
  let failed = false;
  let answered = 0;
  let quitSent = false;
  for (;;) {
    while (answered === expected && !inputDone) await new Promise<void>((r) => wake = r);
    if (answered === expected && inputDone) break;
    let reply: ParsedReply;
    try {
      reply = await connection.read();
    } catch (error) {
      // QUIT closes the connection: the server said bye, that is not a failure.
      if (error instanceof ConnectError && answered > 0 && quitSent) break;
      throw error;
    }
    answered++;
    if (reply.kind === "ok" && reply.text === "bye") quitSent = true;
    if (printer.print(reply, requests.shift())) failed = true;
    if (quitSent) break;
  }
  await sender.catch(() => {});
  return failed;
}
