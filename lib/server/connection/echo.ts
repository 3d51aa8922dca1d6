/**
 * Raw echo mode (docs/protocol.md#raw-echo-mode, `--echo`): no protocol,
 * every byte back exactly as received, for a connection the Manager admitted
 * like any other.
 */
import type { ConnReader } from "./reader.ts";
import type { ReplyWriter } from "./reply_writer.ts";

/** Echoes what `input` receives through `out` until the input ends or `stop()` says so. */
export async function echoBytes(
  input: ConnReader,
  out: ReplyWriter,
  stop: () => boolean,
): Promise<void> {
  for (;;) {
    const bytes = input.frame.take(Infinity);
    if (bytes !== null) {
      out.bytes(bytes);
      await out.flush();
    }
    if (input.ended || stop()) return;
    try {
      input.landed(await input.read());
    } catch (error) {
      input.failed(error);
    }
  }
}
