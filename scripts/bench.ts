/**
 * `deno task bench`: SPEC §10 measured. Starts switchboard and the reference
 * servers of scripts/bench/ (a plain `Deno.listen` echo and a Node `net`
 * echo), runs the same loads against each — interleaved, a fresh server
 * process per measurement — and prints one table with the ratios and
 * targets of SPEC §10. Absolute numbers drift on shared machines; ratios
 * measured in one run do not, much.
 *
 * Server on CPU 0 and load on CPU 1 (`taskset`), where there are two CPUs
 * and taskset exists. The load generator is the C loadgen of ../shared/bench/,
 * built with the local C compiler, where both exist (on 2 cores a Deno
 * generator saturates before the server does), else `switchboard-client
 * bench`; `--loadgen deno|c` picks one, and the table says which ran.
 *
 * Linux only (taskset, /proc for CPU and memory); read through `cat`
 * because Deno grants /proc/<pid> only to --allow-all.
 */
import { parseArgs } from "@std/cli/parse-args";
import { delay } from "@std/async/delay";
import { NET_THREAD_PERMISSION } from "../lib/server/net_thread.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BUILD = `${ROOT}scripts/bench/build`;
const LOADGEN_SRC = `${ROOT}../shared/bench/loadgen.c`;
const DENO = Deno.execPath();
const SERVER_FLAGS = [
  "--no-prompt",
  "--unstable-kv",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  NET_THREAD_PERMISSION,
];
const MiB = 1024 ** 2;

const USAGE =
  `usage: deno task bench [--quick] [--only S1,S6,S4,GAP,S3,FILE,IDLE,COUNT] [--loadgen auto|deno|c]
  [--reps N] [--file-mib N]

  --quick       shorter runs, one repetition (a smoke test of the harness)
  --only LIST   run only these rows
  --loadgen     c: ../shared/bench/loadgen.c; deno: switchboard-client bench;
                auto (default): c where it builds here, else deno
  --reps N      repetitions of S1 and S6, interleaved across servers (default 3)
  --file-mib N  size of the FILE PUT/GET test (default 1024)`;

type ServerKind = "switchboard" | "deno" | "node";

const flags = parseArgs(Deno.args, {
  string: ["only", "loadgen", "reps", "file-mib"],
  boolean: ["quick", "help"],
});
if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const QUICK = flags.quick === true;
const ONLY = new Set(
  String(flags.only ?? "S1,S6,S4,GAP,S3,FILE,IDLE,COUNT").toUpperCase().split(","),
);
const LOADGEN_CHOICE = String(flags.loadgen ?? "auto");
if (!["auto", "deno", "c"].includes(LOADGEN_CHOICE)) {
  console.error(`error: --loadgen is auto, deno or c\n${USAGE}`);
  Deno.exit(2);
}
const REPS = Number(flags.reps ?? (QUICK ? 1 : 3));
const FILE_BYTES = Number(flags["file-mib"] ?? 1024) * MiB;
const DURATION_S = QUICK ? 2 : 5;
const WARMUP_S = 1;

const decoder = new TextDecoder();

/** Runs a command to completion; stdout as text. */
async function output(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const result = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" })
      .output();
    return { ok: result.success, out: decoder.decode(result.stdout) };
  } catch {
    return { ok: false, out: "" };
  }
}

async function readProc(path: string): Promise<string> {
  return (await output("cat", [path])).out;
}

/** user + system CPU seconds of a process, all threads. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM). */
async function memory(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const status = await readProc(`/proc/${pid}/status`);
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

const CPUS = navigator.hardwareConcurrency || 1;
const PINNED = CPUS >= 2 && (await output("taskset", ["-c", "0", "true"])).ok;
const HAVE_NODE = (await output("node", ["--version"])).ok;

/** `taskset -c CPU cmd…` when pinning, else the command as is. */
function pinned(cpu: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return PINNED && cpu !== undefined ? ["taskset", ["-c", String(cpu), cmd, ...args]] : [
    cmd,
    args,
  ];
}

/** `deno run` with the client task's permissions, for client.ts and the scripts that use its code. */
const RUN_AS_CLIENT = ["run", "--allow-net", "--allow-read", "--allow-write"];

/** `deno run` arguments of switchboard-client aimed at `port`. */
function clientArgs(port: number): string[] {
  return [...RUN_AS_CLIENT, `${ROOT}client.ts`, "--port", String(port)];
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Waits until something LISTENs on `port` (read from /proc/net/tcp: no probe connection, which would take a slot). */
async function waitListening(port: number, process: Deno.ChildProcess): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let exited = false;
  process.status.then(() => exited = true);
  for (let i = 0; i < 200; i++) {
    const table = await readProc("/proc/net/tcp");
    if (table.split("\n").some((l) => l.includes(`:${hex} `) && / 0A /.test(l))) return;
    if (exited) throw new Error(`server exited before listening on ${port}`);
    await delay(50);
  }
  throw new Error(`nothing listens on ${port} after 10 s`);
}

/** A server under test, on its own fresh port and scratch directory. */
class BenchServer {
  private constructor(
    readonly kind: ServerKind,
    readonly port: number,
    readonly process: Deno.ChildProcess,
    readonly dir: string,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  static async start(
    kind: ServerKind,
    options: { args?: string[]; cpu?: number | undefined } = {},
  ): Promise<BenchServer> {
    const port = freePort();
    const dir = await Deno.makeTempDir({ prefix: "switchboard-bench-" });
    const cpu = "cpu" in options ? options.cpu : 0;
    const command: [string, string[]] = kind === "switchboard"
      ? [DENO, [
        "run",
        ...SERVER_FLAGS,
        `${ROOT}server.ts`,
        "--port",
        String(port),
        "-q",
        "--data",
        `${dir}/data`,
        "--root",
        `${dir}/files`,
        ...options.args ?? [],
      ]]
      : kind === "deno"
      ? [DENO, ["run", "--allow-net", `${ROOT}scripts/bench/deno_echo.ts`, String(port)]]
      : ["node", [`${ROOT}scripts/bench/node_echo.mjs`, String(port)]];
    const [cmd, args] = pinned(cpu, ...command);
    const process = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    await waitListening(port, process);
    return new BenchServer(kind, port, process, dir);
  }

  async stop(): Promise<void> {
    try {
      this.process.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        this.process.kill("SIGKILL");
      } catch { /* gone */ }
    }, 15_000);
    await this.process.status;
    clearTimeout(timer);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** One load, in the words both generators understand. */
interface Load {
  connections: number;
  pipeline?: number;
  churn?: boolean;
  durationS?: number;
  warmupS?: number;
  request: string;
  expect: string;
  firstReply?: boolean;
  /** CPU for the generator; undefined: not pinned. */
  cpu?: number | undefined;
}

/** What a load measured; durations in µs. */
interface LoadResult {
  rps: number;
  cps: number;
  p50: number;
  p99: number;
  errors: number;
  replied: number;
  frP90: number;
  frMax: number;
  /** Server CPU cores over the window. */
  serverCpu: number;
}

let loadgenBinary: string | undefined;
/** Which generator runs the loads; decided before the first row (see the end of this file). */
let LOADGEN: "deno" | "c" = "deno";

async function buildLoadgen(): Promise<string> {
  if (loadgenBinary) return loadgenBinary;
  await Deno.mkdir(BUILD, { recursive: true });
  const binary = `${BUILD}/loadgen`;
  const built = await output("cc", ["-O2", "-pthread", "-o", binary, LOADGEN_SRC]);
  if (!built.ok) throw new Error(`cannot build ${LOADGEN_SRC} with cc`);
  return loadgenBinary = binary;
}

async function runLoad(server: BenchServer, load: Load): Promise<LoadResult> {
  const warmup = load.warmupS ?? WARMUP_S;
  const duration = load.durationS ?? DURATION_S;
  const cpu = "cpu" in load ? load.cpu : 1;
  // Both generators spell connections, duration and warmup the same way.
  const common = ["-c", String(load.connections), "-d", String(duration), "-w", String(warmup)];
  if (LOADGEN === "c") {
    const binary = await buildLoadgen();
    const [cmd, args] = pinned(cpu, binary, [
      "-p",
      String(server.port),
      ...common,
      "-r",
      `${load.request}\\n`,
      ...(load.expect ? ["-e", load.expect] : []),
      ...(load.pipeline ? ["--pipeline", String(load.pipeline)] : []),
      ...(load.churn ? ["--churn"] : []),
      ...(load.firstReply ? ["--first-reply-latency"] : []),
      "--server-pid",
      String(server.pid),
    ]);
    const { out } = await output(cmd, args);
    const line = out.split("\n").find((l) => l.startsWith("RESULT "));
    if (!line) throw new Error(`loadgen printed no RESULT line:\n${out}`);
    const field = (name: string) => Number(new RegExp(`\\b${name}=([\\d.]+)`).exec(line)?.[1]);
    return {
      rps: field("rps"),
      cps: field("cps"),
      p50: field("p50_us"),
      p99: field("p99_us"),
      errors: field("errors"),
      replied: field("replied"),
      frP90: field("fr_p90_us"),
      frMax: field("fr_max_us"),
      serverCpu: field("srv_cpu"),
    };
  }
  const startAt = Date.now() + 1000;
  const [cmd, args] = pinned(cpu, DENO, [
    ...clientArgs(server.port),
    "bench",
    ...common,
    "-t",
    String(PINNED && cpu !== undefined ? 1 : CPUS),
    "-e",
    load.expect,
    ...(load.pipeline ? ["-P", String(load.pipeline)] : []),
    ...(load.churn ? ["--churn"] : []),
    "--start-at",
    String(startAt),
    "--json",
    load.request,
  ]);
  // Server CPU over exactly the generator's window.
  const windowStart = startAt + warmup * 1000;
  const cpuAt = (at: number) =>
    delay(Math.max(0, at - Date.now())).then(() => cpuSeconds(server.pid));
  const cpuStart = cpuAt(windowStart);
  const cpuEnd = cpuAt(windowStart + duration * 1000);
  const { out } = await output(cmd, args);
  const serverCpu = (await cpuEnd - await cpuStart) / duration;
  let json;
  try {
    json = JSON.parse(out.trim().split("\n").at(-1) ?? "");
  } catch {
    throw new Error(`switchboard-client bench printed no JSON:\n${out}`);
  }
  return {
    rps: json.rps,
    cps: json.cps,
    p50: json.latency.p50_us,
    p99: json.latency.p99_us,
    errors: json.errors,
    replied: json.replied,
    frP90: json.first_reply.p90_us,
    frMax: json.first_reply.max_us,
    serverCpu,
  };
}

// ---------------------------------------------------------------- the rows

interface Row {
  scenario: string;
  switchboard: string;
  deno: string;
  node: string;
  ratio: string;
  target: string;
  met: boolean;
}

const rows: Row[] = [];
const n = (x: number) => Math.round(x).toLocaleString("en-US");
const ms = (us: number) => `${(us / 1000).toFixed(us < 10_000 ? 2 : 0)} ms`;
const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const kinds = (): ServerKind[] =>
  HAVE_NODE ? ["switchboard", "deno", "node"] : ["switchboard", "deno"];
const REQUEST: Record<ServerKind, { request: string; expect: string }> = {
  switchboard: { request: "PING", expect: "OK PONG" },
  deno: { request: "PING", expect: "PING" },
  node: { request: "PING", expect: "PING" },
};

function progress(message: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`bench: ${message}\n`));
}

/** Runs `load` against every server kind, `reps` times interleaved; per kind the results. */
async function acrossServers(
  name: string,
  load: Omit<Load, "request" | "expect">,
  reps: number,
  serverArgs: string[] = [],
): Promise<Map<ServerKind, LoadResult[]>> {
  const results = new Map<ServerKind, LoadResult[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of kinds()) {
      progress(`${name} ${kind} (${rep + 1}/${reps})`);
      const server = await BenchServer.start(kind, {
        args: kind === "switchboard" ? serverArgs : [],
      });
      try {
        const result = await runLoad(server, { ...load, ...REQUEST[kind] });
        if (result.errors > 0) progress(`  ${result.errors} errors`);
        results.set(kind, [...results.get(kind) ?? [], result]);
      } finally {
        await server.stop();
      }
    }
  }
  return results;
}

/** The median run by requests per server core; "req/s (per core)" text. */
function perCore(results: LoadResult[] | undefined): { value: number; text: string } {
  if (!results) return { value: NaN, text: "n/a" };
  const ordered = [...results].sort((a, b) => a.rps / a.serverCpu - b.rps / b.serverCpu);
  const mid = ordered[Math.floor((ordered.length - 1) / 2)]!;
  const value = mid.rps / mid.serverCpu;
  return { value, text: `${n(mid.rps)}/s (${n(value)} per core)` };
}

async function throughputRow(
  id: string,
  label: string,
  load: Omit<Load, "request" | "expect">,
  target: string,
  met: (sb: number, deno: number, node: number) => boolean,
): Promise<void> {
  const results = await acrossServers(id, load, REPS);
  const [sb, deno, node] = (["switchboard", "deno", "node"] as const).map((k) =>
    perCore(results.get(k))
  );
  rows.push({
    scenario: label,
    switchboard: sb!.text,
    deno: deno!.text,
    node: node!.text,
    ratio: `${x(sb!.value, deno!.value)} Deno, ${
      HAVE_NODE ? x(sb!.value, node!.value) : "n/a"
    } Node`,
    target,
    met: met(sb!.value, deno!.value, HAVE_NODE ? node!.value : 0),
  });
}

async function firstReplyRow(): Promise<void> {
  const results = await acrossServers(
    "S4",
    { connections: 1000, firstReply: true, warmupS: 2, durationS: QUICK ? 2 : 5 },
    1,
    ["--max-running", "1000"],
  );
  const text = (r: LoadResult[] | undefined) =>
    r ? `p90 ${ms(r[0]!.frP90)}, max ${ms(r[0]!.frMax)}, ${r[0]!.replied}/1000` : "n/a";
  const sb = results.get("switchboard")![0]!;
  const deno = results.get("deno")![0]!;
  rows.push({
    scenario: "S4: 1000 fresh connections, first reply",
    switchboard: text(results.get("switchboard")),
    deno: text(results.get("deno")),
    node: text(results.get("node")),
    ratio: `p90 ${x(deno.frP90, sb.frP90)} faster than Deno`,
    target: "all answered, p90 < 100 ms",
    met: sb.replied === 1000 && sb.frP90 < 100_000,
  });
}

/** --max-running 1: B waits with a request sent while A QUITs; A's "OK bye" → B's reply. */
async function admissionGapRow(): Promise<void> {
  progress("admission gap");
  const server = await BenchServer.start("switchboard", { args: ["--max-running", "1"] });
  const encoder = new TextEncoder();
  const gaps: number[] = [];
  const readLine = async (conn: Deno.TcpConn) => {
    const buffer = new Uint8Array(256);
    let text = "";
    while (!text.includes("\n")) {
      const got = await conn.read(buffer);
      if (got === null) throw new Error("closed");
      text += decoder.decode(buffer.subarray(0, got));
    }
    return { text, at: performance.now() };
  };
  try {
    let a = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    a.setNoDelay(true);
    await a.write(encoder.encode("PING\n"));
    await readLine(a);
    for (let i = 0; i < (QUICK ? 50 : 300); i++) {
      const b = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      b.setNoDelay(true);
      await b.write(encoder.encode("PING\n"));
      await delay(2); // B is accepted and queued behind A
      const bReply = readLine(b);
      await a.write(encoder.encode("QUIT\n"));
      const bye = await readLine(a);
      const pong = await bReply;
      gaps.push(pong.at - bye.at);
      a.close();
      a = b; // B now holds the slot
    }
    a.close();
  } finally {
    await server.stop();
  }
  gaps.sort((p, q) => p - q);
  const p = (q: number) => gaps[Math.min(gaps.length - 1, Math.ceil(q * gaps.length) - 1)]!;
  rows.push({
    scenario: "admission gap (--max-running 1), QUIT → next reply",
    switchboard: `p50 ${p(0.5).toFixed(2)} ms, p99 ${
      p(0.99).toFixed(2)
    } ms (${gaps.length} hand-overs)`,
    deno: "(no Manager)",
    node: "(no Manager)",
    ratio: `lab Manager: up to 1000 ms`,
    target: "p99 < 5 ms",
    met: p(0.99) < 5,
  });
}

async function churnRow(): Promise<void> {
  const results = await acrossServers("S3", { connections: 4, churn: true }, REPS);
  // Per server core, like the request rows: the generator, not the server, may be what saturates.
  const perCore = (k: ServerKind) => {
    const r = results.get(k);
    return r ? median(r.map((v) => v.cps / v.serverCpu)) : NaN;
  };
  const cps = (k: ServerKind) => {
    const r = results.get(k);
    return r ? `${n(median(r.map((v) => v.cps)))} conn/s (${n(perCore(k))} per core)` : "n/a";
  };
  rows.push({
    scenario: "S3: connect, one request, close (4 at a time)",
    switchboard: cps("switchboard"),
    deno: cps("deno"),
    node: cps("node"),
    ratio: `${x(perCore("switchboard"), perCore("deno"))} Deno`,
    target: "≥ 1.0× plain Deno, per core",
    met: perCore("switchboard") >= perCore("deno"),
  });
}

/** FILE PUT then GET of a random file through switchboard-client; MB/s and the server's peak RSS growth. */
/**
 * FILE PUT and GET of FILE_BYTES through the client's own code, timed from
 * the request to the verified sha256 (scripts/bench/file_transfer.ts),
 * against a plain Deno copy of the same file as the reference. On a VM
 * whose freed memory goes back to the host (virtio-balloon free page
 * reporting), the first touch of page cache costs more than the copy
 * itself; so each timed step starts right after FILE_BYTES of page cache
 * were freed, and the first (cold) copy is shown apart.
 */
async function fileRow(): Promise<void> {
  progress(`FILE ${FILE_BYTES / MiB} MiB`);
  const dir = await Deno.makeTempDir({ prefix: "switchboard-bench-file-" });
  const source = `${dir}/source.bin`;
  const back = `${dir}/back.bin`;
  const scratch = `${dir}/scratch.bin`;
  const file = await Deno.open(source, { write: true, create: true });
  const chunk = new Uint8Array(MiB);
  for (let done = 0; done < FILE_BYTES; done += chunk.length) {
    for (let off = 0; off < chunk.length; off += 65536) {
      crypto.getRandomValues(chunk.subarray(off, off + 65536));
    }
    await file.write(chunk.subarray(0, Math.min(chunk.length, FILE_BYTES - done)));
  }
  await file.syncData(); // so that its write-back does not compete with the PUT
  file.close();
  /** Seconds (and the client's CPU seconds) of one run of scripts/bench/file_transfer.ts on CPU 1. */
  const timed = async (...words: string[]) => {
    const [cmd, args] = pinned(1, DENO, [
      ...RUN_AS_CLIENT,
      `${ROOT}scripts/bench/file_transfer.ts`,
      ...words,
    ]);
    const result = await output(cmd, args);
    if (!result.ok) throw new Error(`file_transfer ${words.join(" ")} failed`);
    return JSON.parse(result.out) as { seconds: number; cpu?: number };
  };
  const rate = (seconds: number) => FILE_BYTES / seconds / 1e6;
  /** MB/s of a copy, which leaves FILE_BYTES of just-freed page cache behind. */
  const copy = async () => {
    const { seconds } = await timed("copy", source, scratch);
    await Deno.remove(scratch);
    return rate(seconds);
  };
  const server = await BenchServer.start("switchboard", {
    args: ["--max-file-size", String(FILE_BYTES)],
  });
  try {
    const before = await memory(server.pid, "VmHWM");
    const cold = await copy();
    const reference = await copy();
    /** MB/s, and the shares of the transfer's wall time the server and the client spent on CPU. */
    const transfer = async (verb: "put" | "get", local: string) => {
      const cpu = await cpuSeconds(server.pid);
      const { seconds, cpu: client } = await timed(String(server.port), verb, local, "bench.bin");
      const server_ = (await cpuSeconds(server.pid) - cpu) / seconds;
      return { rate: rate(seconds), server: server_, client: (client ?? NaN) / seconds };
    };
    const put = await transfer("put", source);
    await copy();
    const get = await transfer("get", back);
    const putRate = put.rate;
    const getRate = get.rate;
    const growth = await memory(server.pid, "VmHWM") - before;
    const busy = (x: { server: number; client: number }) =>
      `CPU: server ${(100 * x.server).toFixed(0)} %, client ${(100 * x.client).toFixed(0)} %`;
    rows.push({
      scenario: `FILE PUT/GET ${FILE_BYTES / MiB} MiB with SHA-256, request → verified`,
      switchboard: `PUT ${n(putRate)} MB/s (${busy(put)}), GET ${n(getRate)} MB/s (${
        busy(get)
      }); server peak RSS +${(growth / MiB).toFixed(1)} MiB`,
      deno: `plain copy, no hash: ${n(reference)} MB/s (first, cold memory: ${n(cold)})`,
      node: "",
      ratio: `PUT ${(putRate / reference).toFixed(2)}×, GET ${
        (getRate / reference).toFixed(2)
      }× the copy`,
      target: "≥ 1000 MB/s each way; RSS growth < 64 MiB",
      met: putRate >= 1000 && getRate >= 1000 && growth < 64 * MiB,
    });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** 10,000 connections held open (64 running, the rest queued); the server's RSS. */
async function idleRow(): Promise<void> {
  const count = QUICK ? 2000 : 10_000;
  const rss = new Map<ServerKind, number>();
  for (const kind of kinds()) {
    progress(`${count} idle connections: ${kind}`);
    const server = await BenchServer.start(kind, {
      args: ["--queue-limit", String(count)],
    });
    const conns: Deno.TcpConn[] = [];
    try {
      const before = await memory(server.pid, "VmRSS");
      for (let i = 0; i < count; i += 500) {
        const batch = await Promise.all(
          Array.from(
            { length: Math.min(500, count - i) },
            () => Deno.connect({ hostname: "127.0.0.1", port: server.port }),
          ),
        );
        conns.push(...batch);
      }
      await delay(1000); // let the server accept and settle
      rss.set(kind, await memory(server.pid, "VmRSS"));
      progress(`  RSS ${(before / MiB).toFixed(1)} → ${(rss.get(kind)! / MiB).toFixed(1)} MiB`);
    } finally {
      for (const conn of conns) conn.close();
      await server.stop();
    }
  }
  const mib = (k: ServerKind) => rss.has(k) ? `${(rss.get(k)! / MiB).toFixed(0)} MiB` : "n/a";
  rows.push({
    scenario: `${n(count)} idle connections (64 running, rest queued): server RSS`,
    switchboard: mib("switchboard"),
    deno: mib("deno"),
    node: mib("node"),
    ratio: `${x(rss.get("switchboard")!, rss.get("deno")!)} Deno's RSS`,
    target: "< 200 MiB",
    met: rss.get("switchboard")! < 200 * MiB,
  });
}

/** PING p99 of 10 clients, alone and while `COUNT 0 1000 50` keeps the worker threads busy. */
async function countRow(): Promise<void> {
  progress("PING while COUNT runs");
  // Not pinned: the worker threads need the other cores, as in production.
  const server = await BenchServer.start("switchboard", { cpu: undefined });
  try {
    const load: Load = { connections: 10, cpu: undefined, ...REQUEST.switchboard };
    const alone = await runLoad(server, load);
    const counter = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await counter.write(new TextEncoder().encode("COUNT 0 1000 50\n"));
    await delay(500);
    const busy = await runLoad(server, load);
    counter.close(); // cancels the jobs still queued
    rows.push({
      scenario: "PING p99 of 10 clients while COUNT 0 1000 50 runs",
      switchboard: `p99 ${ms(busy.p99)} (alone: ${ms(alone.p99)}); ${n(busy.rps)} PING/s`,
      deno: "",
      node: "",
      ratio: `${x(busy.p99, alone.p99)} of idle p99`,
      target: "p99 < 10 ms",
      met: busy.p99 < 10_000,
    });
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------- main

const started = Date.now();
LOADGEN = LOADGEN_CHOICE === "auto"
  ? await buildLoadgen().then(() => "c" as const, () => "deno" as const)
  : LOADGEN_CHOICE as "deno" | "c";
if (ONLY.has("S1")) {
  await throughputRow(
    "S1",
    "S1: 50 persistent clients, PING",
    { connections: 50 },
    "≥ 1.0× Deno and Node, per core",
    (sb, deno, node) => sb >= deno && sb >= node,
  );
}
if (ONLY.has("S6")) {
  await throughputRow(
    "S6",
    "S6: 50 clients, 16 in flight each",
    { connections: 50, pipeline: 16 },
    "≥ 2× Deno, > Node, per core",
    (sb, deno, node) => sb >= 2 * deno && sb > node,
  );
}
if (ONLY.has("S4")) await firstReplyRow();
if (ONLY.has("GAP")) await admissionGapRow();
if (ONLY.has("S3")) await churnRow();
if (ONLY.has("FILE")) await fileRow();
if (ONLY.has("IDLE")) await idleRow();
if (ONLY.has("COUNT")) await countRow();

const cpuModel = /model name\s*:\s*(.*)/.exec(await readProc("/proc/cpuinfo"))?.[1] ??
  "unknown CPU";
const nodeVersion = HAVE_NODE ? (await output("node", ["--version"])).out.trim() : "not found";
console.log(
  `# deno task bench — ${new Date().toISOString().slice(0, 10)}, ${CPUS} × ${cpuModel}, ` +
    `deno ${Deno.version.deno}, node ${nodeVersion}`,
);
console.log(
  `# load generator: ${
    LOADGEN === "c" ? "C loadgen (../shared/bench/loadgen.c)" : "switchboard-client bench"
  }${LOADGEN_CHOICE === "auto" ? " (auto)" : ""}; ${
    PINNED ? "server on CPU 0, load on CPU 1 (taskset)" : "not pinned"
  }; ` +
    `${REPS} rep(s), median by requests per server core; ${DURATION_S} s windows after ${WARMUP_S} s warmup; ` +
    `${Math.round((Date.now() - started) / 1000)} s in all`,
);
console.log("");
console.log("| scenario | switchboard | plain Deno echo | Node echo | ratio | target | met |");
console.log("|---|---|---|---|---|---|---|");
for (const row of rows) {
  console.log(
    `| ${row.scenario} | ${row.switchboard} | ${row.deno} | ${row.node} | ${row.ratio} | ${row.target} | ${
      row.met ? "yes" : "**no**"
    } |`,
  );
}
