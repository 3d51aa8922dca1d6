/**
 * Running a row's load beside a bystander (scripts/bench/bystander.ts, a
 * child process on the load CPU that PINGs the server one request at a
 * time): what the bystander saw over the whole span and in each phase.
 */
import { type BenchContext } from "./context.ts";
import { LOAD_CPU } from "./load.ts";
import type { BenchServer } from "./servers.ts";
import { DENO, pinned, REPO_ROOT } from "./system.ts";

const encoder = new TextEncoder();

/** What the bystander measured over a span; durations in µs. */
export interface Latency {
  pings: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
}

/** A phase in which the bystander got no PING answered at all. */
export const NO_PINGS: Latency = { pings: 0, p50_us: Infinity, p99_us: Infinity, max_us: Infinity };

/** The whole span, and each phase (a new one at each `mark()`). */
export interface Bystanding {
  all: Latency;
  phases: Latency[];
}

/** Runs `during` while the bystander PINGs (on the load CPU), and returns both results. */
export async function withBystander<T>(
  context: BenchContext,
  server: BenchServer,
  during: (mark: () => void) => Promise<T>,
): Promise<{ bystander: Bystanding; result: T }> {
  const [cmd, args] = pinned(context.machine, LOAD_CPU, [DENO, [
    "run",
    "--allow-net",
    `${REPO_ROOT}/scripts/bench/bystander.ts`,
    String(server.port),
  ]]);
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the bystander ended before it was ready: ${out}`);
    out += value;
  }
  const stdin = child.stdin.getWriter();
  const result = await during(() => void stdin.write(encoder.encode("\n")));
  await stdin.close();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    out += chunk.value;
  }
  if (!(await child.status).success) throw new Error(`the bystander failed: ${out}`);
  return { bystander: JSON.parse(out.trim().split("\n").at(-1)!) as Bystanding, result };
}
