/**
 * The dispatcher's fast path for the exact line `PING`
 * (docs/performance.md#s1-where-the-time-goes) answers what the general
 * path answers (docs/protocol.md#commands): for any mix of lines around
 * PING, split into reads at any points, the same reply bytes, the same
 * commands counted, the same per-command durations recorded and the same
 * last command for the live page.
 */
import { assertEquals } from "@std/assert";
import fc from "fast-check";
import { PING } from "../lib/commands/basic.ts";
import { COMMANDS, CommandTable } from "../lib/commands/mod.ts";
import { Logger } from "../lib/server/log.ts";
import { ClientHandler, type PeerConn } from "../lib/server/connection/client_handler.ts";
import { RequestDurations } from "../lib/server/observability/metrics.ts";
import { Stats } from "../lib/server/observability/stats.ts";
import { testContext } from "./context.ts";

/** A peer that sends `chunks` one per read, then ends its side; every write is taken whole. */
class ChunkPeer implements PeerConn {
  readonly written: number[] = [];
  #next = 0;

  constructor(readonly chunks: Uint8Array[]) {}

  read(p: Uint8Array): Promise<number | null> {
    const chunk = this.chunks[this.#next++];
    if (chunk === undefined) return Promise.resolve(null);
    // A chunk larger than the read's buffer is handed over in the pieces the buffer takes.
    const n = Math.min(p.length, chunk.length);
    p.set(chunk.subarray(0, n));
    if (n < chunk.length) this.chunks.splice(this.#next, 0, chunk.subarray(n));
    return Promise.resolve(n);
  }

  write(p: Uint8Array): Promise<number> {
    this.written.push(...p);
    return Promise.resolve(p.length);
  }

  close(): void {}
}

interface Outcome {
  replies: string;
  commands: number;
  durationCounts: Record<string, number>;
}

/** Serves `input`, split at `cuts`, through a handler with `commands` and `maxLine`. */
async function serve(
  commands: CommandTable,
  input: Uint8Array,
  cuts: number[],
  maxLine: number,
): Promise<Outcome> {
  const points = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, input.length]) {
    if (point > from) chunks.push(input.slice(from, point));
    from = Math.max(from, point);
  }
  const peer = new ChunkPeer(chunks);
  const stats = new Stats();
  const durations = new RequestDurations();
  const handler = new ClientHandler(peer, { hostname: "127.0.0.1", port: 1 }, {
    maxLine,
    idleTimeoutMs: 0,
    requestTimeoutMs: 0,
    minRate: 0,
    echo: false,
    commands,
    services: testContext().services,
    logger: new Logger({ level: "quiet" }),
    stats,
    durations,
  });
  await handler.run();
  const durationCounts: Record<string, number> = {};
  for (const [name, series] of Object.entries(durations.snapshot())) {
    durationCounts[name] = series.count;
  }
  return {
    replies: new TextDecoder().decode(new Uint8Array(peer.written)),
    commands: stats.commands_total,
    durationCounts,
  };
}

/** The same commands, but a PING that is not the built-in object: the dispatcher takes the general path. */
const generalOnly = () => new CommandTable(COMMANDS.map((c) => c === PING ? { ...PING } : c));

const LINES = [
  "PING\n",
  "PING\r\n",
  "PING",
  "ping\n",
  "PiNG\r\n",
  "PING x\n",
  "PING \n",
  "PINGX\n",
  "PIN\n",
  " PING\n",
  "PING\r\r\n",
  "\n",
  "\r\n",
  "ECHO hi\n",
  "NOPE\n",
  "P\u00c9NG\n",
  "PI\0G\n",
  "QUIT\n",
];

Deno.test("the PING fast path answers exactly what the general path does, for any split of any input", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.constantFrom(...LINES), fc.string({ maxLength: 8 })), {
        maxLength: 12,
      }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.constantFrom(1024, 4, 3),
      async (lines, cuts, maxLine) => {
        const input = new TextEncoder().encode(lines.join(""));
        const fast = await serve(new CommandTable(), input, cuts, maxLine);
        const general = await serve(generalOnly(), input, cuts, maxLine);
        assertEquals(fast, general);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("a run of PINGs split anywhere gets one PONG each, counted", async () => {
  const input = new TextEncoder().encode("PING\r\nPING\nPING\r\n");
  for (let cut = 0; cut <= input.length; cut++) {
    const outcome = await serve(new CommandTable(), input, [cut], 1024);
    assertEquals(outcome, {
      replies: "OK PONG\n".repeat(3),
      commands: 3,
      durationCounts: { PING: 3 },
    });
  }
});
