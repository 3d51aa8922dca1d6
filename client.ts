/**
 * switchboard-client: an interactive shell, one-shot commands, and a piped
 * mode for scripts (SPEC §7). Argument parsing and output live here; the
 * connection and the protocol are lib's.
 */
import { red, setColorEnabled, yellow } from "@std/fmt/colors";
import { ConnectError, Connection } from "./lib/client/connection.ts";
import { buildRequest, SUBCOMMANDS } from "./lib/client/commands.ts";
import { UsageError } from "./lib/usage_error.ts";
import { DEFAULT_CLIENT_TIMEOUT_S, DEFAULT_HOST, DEFAULT_PORT, VERSION } from "./lib/defaults.ts";
import { isBlank, type ParsedReply } from "./lib/protocol/mod.ts";
import { format as formatBytes } from "@std/fmt/bytes";
import { get, IntegrityError, put, type TransferResult } from "./lib/client/transfer.ts";
import { BENCH_USAGE, benchJson, benchReport, parseBenchArgs, runBench } from "./lib/bench/mod.ts";
import { inWorkerThread } from "./lib/worker_pool.ts";
import { serveBenchTask } from "./lib/bench/worker.ts";

const USAGE =
  `usage: switchboard-client [--host H] [--port P] [--timeout S] [--json] [COMMAND ARGS...]

With no command: an interactive shell on a terminal (exit, quit, STOP or
Ctrl-D leave it), or, with stdin piped, every line is sent and every reply printed.

commands:
${SUBCOMMANDS.map(([syntax, what]) => `  ${syntax.padEnd(42)} ${what}`).join("\n")}

options (anywhere on the line):
  --host H       server address (default ${DEFAULT_HOST})
  --port P       server port (default ${DEFAULT_PORT})
  --timeout S    seconds to connect and to wait for each reply, 0 = forever (default ${DEFAULT_CLIENT_TIMEOUT_S})
  --json         print one JSON object per reply
  --work-ms N    count: milliseconds of CPU work per increment
  --force        get: replace an existing local file
  -h, --help     show this help
  --version      show the version

exit codes: 0 success, 1 the server answered ERR, 2 usage, 3 cannot connect or timed out,
4 integrity check failed (sha256 mismatch)`;

/** Exit codes of SPEC §7. */
const EXIT = { ok: 0, serverError: 1, usage: 2, connection: 3, integrity: 4 } as const;
/** How long a reply may take before the shell says we are probably queued. */
const QUEUED_NOTICE_MS = 1000;

interface ClientArgs {
  host: string;
  port: number;
  timeoutMs: number;
  json: boolean;
  help: boolean;
  version: boolean;
  force: boolean;
  workMs?: string;
  words: string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options may appear anywhere; anything else (even `-5`) is a word of the command. */
function parseClientArgs(args: readonly string[]): ClientArgs {
  const parsed: ClientArgs = {
    host: DEFAULT_HOST,
    port: DEFAULT_PORT,
    timeoutMs: DEFAULT_CLIENT_TIMEOUT_S * 1000,
    json: false,
    help: false,
    version: false,
    force: false,
    words: [],
  };
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      parsed.words.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") parsed.help = true;
    if (!arg.startsWith("--") || arg === "--help") {
      if (arg !== "-h" && arg !== "--help") parsed.words.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (seen.has(name)) throw new UsageError(`--${name} is given twice`);
    seen.add(name);
    if (name === "json" || name === "version" || name === "force") {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      parsed[name] = true;
      continue;
    }
    if (!["host", "port", "timeout", "work-ms"].includes(name)) {
      throw new UsageError(`unknown option --${name}`);
    }
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (name === "host") parsed.host = value;
    if (name === "port") {
      const port = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!(port >= 1 && port <= 65535)) {
        throw new UsageError(
          `--port must be an integer from 1 to 65535: received "${value}"`,
        );
      }
      parsed.port = port;
    }
    if (name === "timeout") {
      const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
      if (!Number.isFinite(seconds)) {
        throw new UsageError(
          `--timeout must be a number of seconds (0 = forever): received "${value}"`,
        );
      }
      parsed.timeoutMs = seconds * 1000;
    }
    if (name === "work-ms") parsed.workMs = value;
  }
  return parsed;
}

/** Prints replies the way SPEC §7 says: payload on stdout, ERR on stderr, or JSON. */
class Printer {
  constructor(readonly json: boolean, readonly color: boolean) {}

  /** Prints a reply; returns true if it was an ERR. */
  print(reply: ParsedReply): boolean {
    if (this.json) {
      console.log(JSON.stringify(toJson(reply)));
      return reply.kind === "err";
    }
    switch (reply.kind) {
      case "ok":
        if (reply.text !== undefined) writeOut(reply.text + "\n");
        return false;
      case "data":
        Deno.stdout.writeSync(reply.body);
        return false;
      case "err": {
        const line = `error: ${reply.code}: ${reply.message}`;
        writeErr((this.color ? red(line) : line) + "\n");
        return true;
      }
    }
  }
}

function toJson(reply: ParsedReply): Record<string, unknown> {
  switch (reply.kind) {
    case "ok":
      return reply.text === undefined ? { ok: true } : { ok: true, text: reply.text };
    case "err":
      return { ok: false, code: reply.code, message: reply.message };
    case "data":
      return {
        ok: true,
        size: reply.body.length,
        ...(reply.sha256 === undefined ? {} : { sha256: reply.sha256 }),
        data: decoder.decode(reply.body),
      };
  }
}

function writeOut(text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
}

function writeErr(text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/** A progress bar on stderr, redrawn at most every 100 ms; nothing when stderr is not a terminal. */
function progressBar(
  label: string,
): { update: (done: number, total: number) => void; end: () => void } {
  if (!Deno.stderr.isTerminal()) return { update: () => {}, end: () => {} };
  const started = performance.now();
  let last = 0;
  const update = (done: number, total: number) => {
    const now = performance.now();
    if (now - last < 100 && done < total) return;
    last = now;
    const fraction = total === 0 ? 1 : done / total;
    const width = 24;
    const filled = Math.round(fraction * width);
    const seconds = (now - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const left = rate > 0 ? Math.ceil((total - done) / rate) : 0;
    writeErr(
      `\r\x1b[K${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${
        Math.floor(fraction * 100)
      }% ` +
        `${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(rate)}/s  ${left}s left`,
    );
  };
  return { update, end: () => writeErr("\n") };
}

/** `put <local> [name]` and `get <name> [local]`. */
async function runTransfer(
  connection: Connection,
  parsed: ClientArgs,
  printer: Printer,
): Promise<number> {
  const [verb, first, second] = parsed.words as [string, string, string?];
  const bar = progressBar(`${verb} ${first}`);
  let result: TransferResult;
  try {
    if (verb === "put") {
      const name = second ?? first.slice(first.lastIndexOf("/") + 1);
      result = await put(connection, first, name, bar.update);
    } else {
      const local = second ?? first;
      result = await get(connection, first, local, { force: parsed.force, onProgress: bar.update });
    }
  } finally {
    bar.end();
  }
  if (!result.ok) return printer.print(result.reply) ? EXIT.serverError : EXIT.ok;
  if (parsed.json) console.log(JSON.stringify(result));
  else {writeOut(
      `${verb === "put" ? "stored" : "saved"} ${result.name} ${result.size} ${result.sha256}\n`,
    );}
  return EXIT.ok;
}

/** One request, one reply. */
async function runOneShot(connection: Connection, line: string, printer: Printer): Promise<number> {
  await connection.send(line);
  return printer.print(await connection.read()) ? EXIT.serverError : EXIT.ok;
}

/** Piped stdin: send every line (pipelined), print every reply in order. */
async function runPiped(connection: Connection, printer: Printer): Promise<number> {
  let expected = 0;
  let inputDone = false;
  let wake: () => void = () => {};
  const sender = (async () => {
    let partial = "";
    const flush = async (lines: string[]) => {
      if (lines.length === 0) return;
      // Blank lines get no reply (SPEC §4): do not wait for one.
      expected += lines.filter((l) => !isBlank(l.replace(/\r$/, ""))).length;
      wake();
      await connection.write(encoder.encode(lines.join("\n") + "\n"));
    };
    for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
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
    if (printer.print(reply)) failed = true;
    if (quitSent) break;
  }
  await sender.catch(() => {});
  return failed ? EXIT.serverError : EXIT.ok;
}

/** The interactive shell; an ERR is shown, not an exit status (people make typos). */
async function runShell(connection: Connection, printer: Printer, color: boolean): Promise<number> {
  for (;;) {
    const line = prompt("switchboard>");
    if (line === null) break; // Ctrl-D
    if (isBlank(line)) continue;
    const word = line.trim().split(/\s+/)[0]!.toLowerCase();
    await connection.send(line);
    const pending = connection.read();
    let noticed = false;
    const timer = setTimeout(() => {
      noticed = true;
      writeErr(color ? yellow("waiting for a free slot…") : "waiting for a free slot…");
    }, QUEUED_NOTICE_MS);
    let reply: ParsedReply;
    try {
      reply = await pending;
    } finally {
      clearTimeout(timer);
      if (noticed) writeErr("\r\x1b[K");
    }
    printer.print(reply);
    if (["exit", "quit", "stop"].includes(word) && reply.kind === "ok") break;
  }
  return EXIT.ok;
}

/** Global options that take a value: skipped when looking for the `bench` word. */
const VALUE_OPTIONS = new Set(["--host", "--port", "--timeout", "--work-ms"]);

/** The arguments of `bench` (global options kept), or undefined if the command is not bench. */
function benchArgs(args: readonly string[]): string[] | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith("-")) {
      return arg.toLowerCase() === "bench"
        ? [...args.slice(0, i), ...args.slice(i + 1)]
        : undefined;
    }
  }
  return undefined;
}

/** `switchboard-client bench …`: the load generator (lib/bench.ts). */
async function runBenchCommand(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    console.log(BENCH_USAGE);
    return EXIT.ok;
  }
  let options;
  try {
    options = parseBenchArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeErr(`error: ${error.message}\n${BENCH_USAGE}\n`);
    return EXIT.usage;
  }
  const result = await runBench(options, new URL(import.meta.url));
  console.log(options.json ? JSON.stringify(benchJson(result)) : benchReport(result));
  if (result.counted === 0) {
    writeErr(`error: no replies: ${result.errorSamples[0] ?? "nothing arrived in the window"}\n`);
    return EXIT.connection;
  }
  return result.errors > 0 ? EXIT.serverError : EXIT.ok;
}

/** Entry point; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const bench = benchArgs(args);
  if (bench !== undefined) return await runBenchCommand(bench);
  let parsed: ClientArgs;
  let line: string | undefined;
  const interactive = Deno.stdin.isTerminal();
  const color = Deno.stderr.isTerminal() && !Deno.noColor;
  setColorEnabled(color);
  try {
    parsed = parseClientArgs(args);
    if (parsed.help) {
      console.log(USAGE);
      return EXIT.ok;
    }
    if (parsed.version) {
      console.log(`switchboard-client ${VERSION}`);
      return EXIT.ok;
    }
    const verb = parsed.words[0]?.toLowerCase();
    if (verb === "put" || verb === "get") {
      if (parsed.words.length < 2 || parsed.words.length > 3) {
        throw new UsageError(
          verb === "put" ? "usage: put <local> [name]" : "usage: get <name> [local] [--force]",
        );
      }
      parsed.words[0] = verb;
    } else if (parsed.words.length > 0) {
      const ask = interactive ? (q: string) => prompt(q) : undefined;
      line = buildRequest(parsed.words, {
        ...(parsed.workMs === undefined ? {} : { workMs: parsed.workMs }),
        ...(ask === undefined ? {} : { ask }),
      });
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeErr(`error: ${error.message}\n${USAGE}\n`);
    return EXIT.usage;
  }
  const printer = new Printer(parsed.json, color);
  let connection: Connection | undefined;
  try {
    connection = await Connection.open({
      host: parsed.host,
      port: parsed.port,
      timeoutMs: parsed.timeoutMs,
    });
    if (parsed.words[0] === "put" || parsed.words[0] === "get") {
      return await runTransfer(connection, parsed, printer);
    }
    if (line !== undefined) return await runOneShot(connection, line, printer);
    if (!interactive) return await runPiped(connection, printer);
    return await runShell(connection, printer, color);
  } catch (error) {
    if (error instanceof IntegrityError) {
      writeErr(`error: integrity check failed: ${error.message}\n`);
      return EXIT.integrity;
    }
    if (error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotFound) {
      writeErr(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (!(error instanceof ConnectError)) throw error;
    writeErr(`error: ${error.message}\n`);
    return EXIT.connection;
  } finally {
    connection?.close();
  }
}

// `bench` threads run this very file (a bundle has no lib/ beside it).
if (inWorkerThread()) serveBenchTask();
else if (import.meta.main) Deno.exit(await main(Deno.args));
