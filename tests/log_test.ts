/**
 * The logger under a sink that falls behind (docs/server.md#what-a-client-cannot-do-to-the-server): the
 * queue is bounded, writes are bounded batches, every dropped line is
 * counted and the count is logged once the sink catches up, and quoted
 * client text is cut to a bounded length.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  Logger,
  MAX_BATCH_CHARS,
  MAX_FIELD_CHARS,
  MAX_QUEUED_LINES,
  quoted,
} from "../lib/server/log.ts";
import type { ByteSink } from "../lib/io.ts";
import { concat } from "./helpers.ts";

/** A sink that holds every write until `release()`, then takes everything; records what it got. */
class StallingSink implements ByteSink {
  readonly writes: Uint8Array[] = [];
  #release: () => void = () => {};
  readonly #released = new Promise<void>((resolve) => this.#release = resolve);

  async write(p: Uint8Array): Promise<number> {
    await this.#released;
    this.writes.push(p.slice());
    return p.length;
  }

  release(): void {
    this.#release();
  }

  lines(): string[] {
    const text = new TextDecoder().decode(concat(...this.writes));
    return text.split("\n").filter((line) => line !== "");
  }
}

for (const format of ["text", "json"] as const) {
  Deno.test(`${format}: 16,000 lines quoting 65 KB words into a stalled sink: every line written or counted, writes bounded`, async () => {
    const sink = new StallingSink();
    const logger = new Logger({ level: "debug", format, sink });
    const word = "W".repeat(65_536);
    const sent = 16_000;
    for (let i = 0; i < sent; i++) {
      logger.debug("request", { client: i, command: word, name: quoted(word) });
    }
    sink.release();
    await logger.flush();
    const lines = sink.lines();
    const warnings = lines.filter((line) => line.includes("log lines dropped"));
    assertEquals(warnings.length, 1, "one warning with the count");
    const dropped = Number(
      /(\d+) log lines dropped: stderr is not keeping up/.exec(warnings[0]!)?.[1],
    );
    const requests = lines.filter((line) => line.includes("request"));
    // The first line was in the stalled write; behind it the queue filled up.
    assertEquals(requests.length, 1 + MAX_QUEUED_LINES, "the queue was full, no more");
    assertEquals(requests.length + dropped, sent, "every line written or counted");
    assertMatch(requests[0]!, format === "text" ? /client=0 / : /"client":0,/);
    for (const write of sink.writes) {
      // One line may pass the batch size alone; a batch of several never does.
      assert(
        write.length <= MAX_BATCH_CHARS + 4 * MAX_FIELD_CHARS,
        `a write of ${write.length} bytes`,
      );
    }
    for (const line of requests) {
      assert(line.length < 4 * MAX_FIELD_CHARS, `a line of ${line.length} characters`);
      assert(line.includes(`${"W".repeat(MAX_FIELD_CHARS)}…`), "the word is cut, marked with …");
    }
  });
}

Deno.test("the count of lines dropped in a stall comes after the lines that got through, before later ones", async () => {
  let stalled: StallingSink | undefined = new StallingSink();
  const got: string[] = [];
  const sink: ByteSink = {
    async write(p) {
      if (stalled) await stalled.write(p);
      got.push(new TextDecoder().decode(p));
      return p.length;
    },
  };
  const logger = new Logger({ sink });
  for (let i = 0; i < MAX_QUEUED_LINES + 5; i++) logger.info("first", { i });
  stalled.release();
  stalled = undefined;
  await logger.flush();
  logger.info("after");
  await logger.flush();
  const text = got.join("");
  assertMatch(text, /WARN {2}4 log lines dropped: stderr is not keeping up\n\S+ INFO {2}after\n$/);
});

Deno.test("a sink that fails counts the lines it lost, and the next line that gets through says how many", async () => {
  let failing = true;
  const got: string[] = [];
  const logger = new Logger({
    sink: {
      write(p) {
        if (failing) return Promise.reject(new Error("EAGAIN"));
        got.push(new TextDecoder().decode(p));
        return Promise.resolve(p.length);
      },
    },
  });
  for (let i = 0; i < 3; i++) logger.info("lost", { i });
  await logger.flush();
  failing = false;
  logger.info("back");
  await logger.flush();
  assertMatch(
    got.join(""),
    /^\S+ WARN {2}3 log lines dropped: stderr is not keeping up\n\S+ INFO {2}back\n$/,
  );
});
