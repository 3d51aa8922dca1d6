/**
 * A bystander for `deno task bench`: one connection that sends PING and
 * waits for its PONG, again and again, from the moment it is connected
 * until its standard input ends, so that a row can measure exactly the
 * span of what it does meanwhile (lib/bench's generators measure fixed
 * windows). Each line on standard input starts a new phase. Prints `ready`
 * once the first PONG is back; at the end one JSON line: for the whole
 * span and for each phase, the PINGs answered and their p50, p99 and max
 * in µs.
 *
 *   deno run --allow-net scripts/bench/bystander.ts PORT
 */
import { Histogram } from "../../lib/bench/histogram.ts";
import { writeAll } from "../../lib/io.ts";

const REPLY_BUFFER_BYTES = 256;
const NS_PER_MS = 1e6;
const LF = 0x0a;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const port = Number(Deno.args[0]);
if (!Number.isInteger(port) || port < 1) {
  console.error("usage: bystander.ts PORT");
  Deno.exit(2);
}
const conn = await Deno.connect({ hostname: "127.0.0.1", port });
conn.setNoDelay(true);
const ping = encoder.encode("PING\n");
const buffer = new Uint8Array(REPLY_BUFFER_BYTES);

/** One PING, answered: its latency in ns. */
async function pingOnce(): Promise<number> {
  const sent = performance.now();
  await writeAll(conn, ping);
  let text = "";
  while (!text.includes("\n")) {
    const got = await conn.read(buffer);
    if (got === null) throw new Error("the server closed the bystander's connection");
    text += decoder.decode(buffer.subarray(0, got));
  }
  if (text !== "OK PONG\n") throw new Error(`unexpected reply: ${JSON.stringify(text)}`);
  return (performance.now() - sent) * NS_PER_MS;
}

await pingOnce();
await writeAll(Deno.stdout, encoder.encode("ready\n"));
const phases = [new Histogram()];
let stopped = false;
const stdinEnds = (async () => {
  for await (const chunk of Deno.stdin.readable) {
    for (const byte of chunk) if (byte === LF) phases.push(new Histogram());
  }
  stopped = true;
})();
while (!stopped) {
  const ns = await pingOnce();
  phases.at(-1)!.record(ns);
}
await stdinEnds;
conn.close();
const all = new Histogram();
for (const phase of phases) all.merge(phase);
const summary = (h: Histogram) => {
  const us = (ns: number) => Math.round(ns / 1000);
  return {
    pings: h.total,
    p50_us: us(h.quantile(0.5)),
    p99_us: us(h.quantile(0.99)),
    max_us: us(h.max),
  };
};
console.log(JSON.stringify({ all: summary(all), phases: phases.map(summary) }));
