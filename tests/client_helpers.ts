/**
 * Helpers for the client's end-to-end tests: the client run as `deno task
 * client` runs it (same permissions), a stand-in server for replies the real
 * one never sends, a wrapper that makes even root obey file modes, and the
 * environment for a client with a home directory of the test's own.
 */
import { assertEquals } from "@std/assert";
import { CLIENT_PERMISSIONS, repoPath, run, TestClient } from "./helpers.ts";

const CLIENT = repoPath("client.ts");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options of {@linkcode runClient}. */
export interface ClientRun {
  stdin?: string | Uint8Array;
  /** Variables added to the environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** A command the client runs under (see {@linkcode unprivileged}). */
  wrap?: readonly string[];
}

/** The `deno run` arguments of the client with its task's permissions. */
export function clientRunArgs(args: readonly string[]): string[] {
  return ["run", "--no-prompt", ...CLIENT_PERMISSIONS, CLIENT, ...args];
}

/** Runs the client with `args`; resolves to its exit code and output. */
export function runClient(
  args: readonly string[],
  options: ClientRun = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const wrap = options.wrap ?? [];
  const command = wrap.length > 0 ? wrap[0]! : Deno.execPath();
  const prefix = wrap.length > 0 ? [...wrap.slice(1), Deno.execPath()] : [];
  return run(command, [...prefix, ...clientRunArgs(args)], options.stdin, {
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
}

/** The client as one shell command line, for tests/terminal.ts. */
export function clientCommandLine(args: readonly string[]): string {
  return [Deno.execPath(), ...clientRunArgs(args)].map(shellQuote).join(" ");
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A stand-in server on a free port: `serve` handles each connection; disposing stops it. */
export function fakeServer(
  serve: (conn: Deno.Conn) => Promise<void>,
): { port: number } & Disposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      serve(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch { /* closed by serve */ }
      });
    }
  })().catch(() => {});
  return { port: listener.addr.port, [Symbol.dispose]: () => listener.close() };
}

/** Reads one request line from `conn` (null at EOF). */
export async function readRequest(
  conn: Deno.Conn,
  buffered: { text: string },
): Promise<string | null> {
  const chunk = new Uint8Array(4096);
  while (!buffered.text.includes("\n")) {
    const n = await conn.read(chunk);
    if (n === null) return null;
    buffered.text += decoder.decode(chunk.subarray(0, n));
  }
  const end = buffered.text.indexOf("\n");
  const line = buffered.text.slice(0, end);
  buffered.text = buffered.text.slice(end + 1);
  return line;
}

/** Writes `text` to `conn`. */
export async function reply(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/**
 * What to run the client under so that file modes apply to it: nothing for
 * an ordinary user; for root (which reads and writes anything), `setpriv`
 * dropping the two capabilities that override file modes. Found by trying,
 * not by asking for the user id, which needs another permission.
 */
export async function unprivileged(): Promise<string[]> {
  const probe = await Deno.makeTempFile({ prefix: "switchboard-probe-" });
  try {
    await Deno.chmod(probe, 0o000);
    const readable = await Deno.readFile(probe).then(() => true, () => false);
    return readable ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] : [];
  } finally {
    await Deno.remove(probe);
  }
}

/**
 * Environment for a client whose home is `home` (its history file goes
 * there); DENO_DIR keeps Deno's cache where it is, since a new HOME would
 * otherwise make Deno look for (and download) everything again.
 */
export async function homeEnvironment(home: string): Promise<Record<string, string>> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  const denoDir: string = JSON.parse(decoder.decode(out.stdout)).denoDir;
  return { HOME: home, DENO_DIR: denoDir };
}

/** Occupies the only running slot of a `--max-running 1` server; `release` frees it. */
export async function holdSlot(port: number): Promise<{ release(): void } & Disposable> {
  const holder = await TestClient.connect(port);
  assertEquals(await holder.ask("PING"), "OK PONG");
  return { release: () => holder.close(), [Symbol.dispose]: () => holder.close() };
}
