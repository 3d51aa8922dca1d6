/**
 * switchboard-client: an interactive shell, one-shot commands, and a piped
 * mode for scripts (SPEC §7). Argument parsing and output live here; the
 * connection and the protocol are lib's.
 */
import { red, setColorEnabled, yellow } from "@std/fmt/colors";
import { ConnectError, Connection } from "./lib/client/connection.ts";
import { type ClientCommand, parseCommand } from "./lib/client/commands.ts";
import { CLIENT_USAGE, type ClientConfig, parseClientArgs } from "./lib/client/args.ts";
import { UsageError } from "./lib/usage_error.ts";
import { VERSION } from "./lib/defaults.ts";
import { isBlank, type ParsedReply } from "./lib/protocol/mod.ts";
import { format as formatBytes } from "@std/fmt/bytes";
import { get, IntegrityError, put, type TransferResult } from "./lib/client/transfer.ts";
import {
  BENCH_USAGE,
  benchJson,
  benchReport,
  parseBenchArgs,
  runBench,
} from "./lib/bench/bench.ts";
import { inWorkerThread } from "./lib/worker_pool.ts";
import { serveBenchTask } from "./lib/bench/worker.ts";

/** `put` or `get`. */
type TransferCommand = Extract<ClientCommand, { kind: "put" | "get" }>;

/** Exit codes of SPEC §7. */
const EXIT = { ok: 0, serverError: 1, usage: 2, connection: 3, integrity: 4 } as const;
/** How long a reply may take before the shell says we are probably queued. */
const QUEUED_NOTICE_MS = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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
  command: TransferCommand,
  config: ClientConfig,
  printer: Printer,
): Promise<number> {
  const bar = progressBar(
    `${command.kind} ${command.kind === "put" ? command.local : command.name}`,
  );
  let result: TransferResult;
  try {
    result = command.kind === "put"
      ? await put(connection, command.local, command.name, bar.update)
      : await get(connection, command.name, command.local, {
        force: config.force,
        onProgress: bar.update,
      });
  } finally {
    bar.end();
  }
  if (!result.ok) return printer.print(result.reply) ? EXIT.serverError : EXIT.ok;
  if (config.json) console.log(JSON.stringify(result));
  else {writeOut(
      `${
        command.kind === "put" ? "stored" : "saved"
      } ${result.name} ${result.size} ${result.sha256}\n`,
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
  let config: ClientConfig;
  let command: ClientCommand | undefined;
  const interactive = Deno.stdin.isTerminal();
  const color = Deno.stderr.isTerminal() && !Deno.noColor;
  setColorEnabled(color);
  try {
    const parsed = parseClientArgs(args);
    if (parsed.kind === "help") {
      console.log(CLIENT_USAGE);
      return EXIT.ok;
    }
    if (parsed.kind === "version") {
      console.log(`switchboard-client ${VERSION}`);
      return EXIT.ok;
    }
    config = parsed.config;
    if (config.words.length > 0) {
      command = parseCommand(config.words, {
        workMs: config.workMs,
        ask: interactive ? (question) => prompt(question) : undefined,
      });
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeErr(`error: ${error.message}\n${CLIENT_USAGE}\n`);
    return EXIT.usage;
  }
  const printer = new Printer(config.json, color);
  let connection: Connection | undefined;
  try {
    connection = await Connection.open(config);
    if (command?.kind === "put" || command?.kind === "get") {
      return await runTransfer(connection, command, config, printer);
    }
    if (command !== undefined) return await runOneShot(connection, command.line, printer);
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
