/**
 * What `deno task bench` reads from and asks of this machine: commands run
 * to completion, /proc readings (CPU seconds, memory, listening sockets),
 * free ports, CPU pinning with `taskset`, and the machine's shape (CPUs,
 * pinning, Node) probed once per run.
 *
 * Linux only; /proc is read through `cat` because Deno grants /proc/<pid>
 * only to --allow-all.
 */
import { delay } from "@std/async/delay";

/** The repository this bench belongs to (no trailing slash, like a --compare checkout). */
export const REPO_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/** The deno running the bench; every Deno process it starts is the same one. */
export const DENO = Deno.execPath();
/** `deno run` with the client task's permissions, for client.ts and the scripts that use its code. */
export const RUN_AS_CLIENT = ["run", "--allow-net", "--allow-read", "--allow-write"];

/** How often waitListening looks at /proc/net/tcp. */
const LISTEN_POLL_MS = 50;
/** A server that does not listen within this time failed to start. */
const LISTEN_TIMEOUT_MS = 10_000;

const decoder = new TextDecoder();

/** What a command printed, and whether it succeeded. */
export interface CommandOutput {
  ok: boolean;
  out: string;
}

/** Runs a command to completion; stdout as text. A command that cannot start is not ok. */
export async function output(cmd: string, args: string[]): Promise<CommandOutput> {
  try {
    const result = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" })
      .output();
    return { ok: result.success, out: decoder.decode(result.stdout) };
  } catch {
    return { ok: false, out: "" };
  }
}

/** A /proc file as text (empty when it cannot be read). */
export async function readProc(path: string): Promise<string> {
  return (await output("cat", [path])).out;
}

/** user + system CPU seconds of a process, all threads. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM). */
export async function memory(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const status = await readProc(`/proc/${pid}/status`);
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/** A loopback port nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Waits until something LISTENs on `port` (read from /proc/net/tcp: no probe connection, which would take a slot). */
export async function waitListening(port: number, process: Deno.ChildProcess): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let exited = false;
  process.status.then(() => exited = true);
  for (let waited = 0; waited < LISTEN_TIMEOUT_MS; waited += LISTEN_POLL_MS) {
    const table = await readProc("/proc/net/tcp");
    if (table.split("\n").some((l) => l.includes(`:${hex} `) && / 0A /.test(l))) return;
    if (exited) throw new Error(`server exited before listening on ${port}`);
    await delay(LISTEN_POLL_MS);
  }
  throw new Error(`nothing listens on ${port} after ${LISTEN_TIMEOUT_MS / 1000} s`);
}

/** The machine the bench runs on, as far as the table needs to know. */
export interface Machine {
  cpus: number;
  /** Whether servers and loads are pinned to CPUs with taskset (two CPUs or more, taskset works). */
  pinned: boolean;
  /** `node --version`, or undefined where there is no Node (then no Node column is measured). */
  nodeVersion: string | undefined;
  cpuModel: string;
}

/** Looks at the CPUs, taskset and Node once, at the start of a run. */
export async function probeMachine(): Promise<Machine> {
  const cpus = navigator.hardwareConcurrency || 1;
  const node = await output("node", ["--version"]);
  return {
    cpus,
    pinned: cpus >= 2 && (await output("taskset", ["-c", "0", "true"])).ok,
    nodeVersion: node.ok ? node.out.trim() : undefined,
    cpuModel: /model name\s*:\s*(.*)/.exec(await readProc("/proc/cpuinfo"))?.[1] ?? "unknown CPU",
  };
}

/** Which CPU a process runs on: a number, or "unpinned" to let the scheduler choose. */
export type Cpu = number | "unpinned";

/** `taskset -c CPU cmd…` when the machine pins, else the command as is. */
export function pinned(
  machine: Machine,
  cpu: Cpu,
  command: [string, string[]],
): [string, string[]] {
  const [cmd, args] = command;
  return machine.pinned && cpu !== "unpinned"
    ? ["taskset", ["-c", String(cpu), cmd, ...args]]
    : [cmd, args];
}
