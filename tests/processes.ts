/**
 * Programs run by the tests: any command to its end (with a deadline), and
 * the client's `deno run` arguments with exactly the permissions its task
 * grants.
 */
import project from "../deno.json" with { type: "json" };
import { within } from "./deadlines.ts";

const ROOT = new URL("..", import.meta.url);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long {@linkcode run} lets a program run before killing it (a build may take a while). */
export const RUN_TIMEOUT_MS = 120_000;

/** Absolute path of a file in the repository. */
export function repoPath(relative: string): string {
  return new URL(relative, ROOT).pathname;
}

/**
 * Runs a command with stdin bytes (and `env` added, in `cwd`); returns exit
 * code and output. A program still running after `timeoutMs` (default
 * {@linkcode RUN_TIMEOUT_MS}) is killed, and this throws with what it printed.
 */
export async function run(
  cmd: string,
  args: string[],
  stdin?: Uint8Array | string,
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  }).spawn();
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  const timeoutMs = options.timeoutMs ?? RUN_TIMEOUT_MS;
  try {
    await within(
      (async () => {
        if (stdin === undefined) return;
        const writer = child.stdin.getWriter();
        await writer.write(typeof stdin === "string" ? encoder.encode(stdin) : stdin);
        await writer.close();
      })(),
      timeoutMs,
      () => `${cmd} ${args.join(" ")} to read its input`,
    );
    const status = await within(
      child.status,
      timeoutMs,
      () => `${cmd} ${args.join(" ")} to end; it printed:\n${stdout.text}\n${stderr.text}`,
    );
    await Promise.all([stdout.done, stderr.done]);
    return { code: status.code, stdout: stdout.text, stderr: stderr.text };
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* already ended */ }
    await child.status;
    throw error;
  }
}

/** Collects a stream's text as it arrives (so that a timeout can show what came). */
function collect(stream: ReadableStream<Uint8Array>): { text: string; done: Promise<void> } {
  const collected = { text: "", done: Promise.resolve() };
  collected.done = stream.pipeTo(
    new WritableStream({
      write(chunk) {
        collected.text += decoder.decode(chunk, { stream: true });
      },
    }),
  ).catch(() => {});
  return collected;
}

/**
 * The permission flags of `deno task client`, read from deno.json, so that
 * the tests run the client with exactly what users grant it.
 */
export const CLIENT_PERMISSIONS: readonly string[] = project.tasks.client.split(" ")
  .filter((word) => word.startsWith("--allow-"));

/** `deno run` arguments for the client with its task's permissions, pointed at `port`. */
export function clientArgs(port: number): string[] {
  return [
    "run",
    "--no-prompt",
    ...CLIENT_PERMISSIONS,
    repoPath("client.ts"),
    "--port",
    String(port),
  ];
}
