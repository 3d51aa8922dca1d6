/**
 * Reading a password from the person at the keyboard or from a pipe
 * (docs/server.md#server-options `passwd`, docs/client.md `--user`): on a terminal, a prompt with echo off; from a
 * pipe, one line. Passwords never come from the command line, where `ps`
 * and shell history would show them.
 */
import { type ByteSink, writeAll } from "../io.ts";

/** Where a password is read from: `Deno.stdin`, or a test double. */
export interface PasswordSource {
  read(buffer: Uint8Array): Promise<number | null>;
  isTerminal(): boolean;
  /** Raw mode: no echo, no line editing, Ctrl-C arrives as a byte. */
  setRaw(mode: boolean): void;
}

/** Options of {@linkcode readPassword} and {@linkcode readNewPassword}. */
export interface PasswordInputOptions {
  /** Default `Deno.stdin`. */
  source?: PasswordSource;
  /** Where the prompt goes on a terminal; default `Deno.stderr`, so stdout stays clean. */
  prompts?: ByteSink;
}

/** The person pressed Ctrl-C (or Ctrl-D on an empty line) at the prompt. */
export class PasswordAbortedError extends Error {
  override name = "PasswordAbortedError";
  constructor() {
    super("password entry aborted");
  }
}

/** No password could be read: empty input, too long, not UTF-8, or two entries that differ. */
export class PasswordInputError extends Error {
  override name = "PasswordInputError";
}

/** Longest password read: far beyond any passphrase, short of a pasted file. */
export const MAX_PASSWORD_BYTES = 1024;

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x08;
const LF = 0x0a;
const CR = 0x0d;
const CTRL_U = 0x15;
const DEL = 0x7f;

const encoder = new TextEncoder();

/** Reads one password: prompts with echo off on a terminal, else reads one line. */
export async function readPassword(
  prompt: string,
  options: PasswordInputOptions = {},
): Promise<string> {
  const source = options.source ?? Deno.stdin;
  const bytes = source.isTerminal()
    ? await promptWithoutEcho(prompt, source, options.prompts ?? Deno.stderr)
    : await readLine(source);
  return decode(bytes);
}

/**
 * Reads a new password for passwd: on a terminal it is typed twice and must
 * match (a typo would otherwise lock the user out); from a pipe, one line.
 */
export async function readNewPassword(options: PasswordInputOptions = {}): Promise<string> {
  const source = options.source ?? Deno.stdin;
  const password = await readPassword("password: ", options);
  if (!source.isTerminal()) return password;
  const again = await readPassword("password again: ", options);
  if (again !== password) throw new PasswordInputError("the two passwords differ");
  return password;
}

function decode(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new PasswordInputError("the password is empty");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new PasswordInputError("the password is not UTF-8 text");
  }
}

/** The first line of a pipe (LF or CR LF ends it, as does the end of input). */
async function readLine(source: PasswordSource): Promise<Uint8Array> {
  const line: number[] = [];
  const chunk = new Uint8Array(256);
  for (;;) {
    const n = await source.read(chunk);
    if (n === null) break;
    const end = chunk.subarray(0, n).indexOf(LF);
    line.push(...chunk.subarray(0, end === -1 ? n : end));
    tooLong(line);
    if (end !== -1) break;
  }
  if (line[line.length - 1] === CR) line.pop();
  return new Uint8Array(line);
}

function tooLong(line: number[]): void {
  if (line.length > MAX_PASSWORD_BYTES) {
    throw new PasswordInputError(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
}

/**
 * Prompts, then reads keys in raw mode until Enter: nothing is echoed,
 * Backspace and Ctrl-U edit, Ctrl-C aborts. The terminal is back in its
 * normal mode on every way out.
 */
async function promptWithoutEcho(
  prompt: string,
  source: PasswordSource,
  prompts: ByteSink,
): Promise<Uint8Array> {
  const line: number[] = [];
  const chunk = new Uint8Array(64);
  // Echo off before the prompt shows: keys typed as soon as it appears
  // (or typed ahead) must never reach the screen.
  source.setRaw(true);
  try {
    await writeAll(prompts, encoder.encode(prompt));
    for (;;) {
      const n = await source.read(chunk);
      if (n === null) throw new PasswordAbortedError();
      for (const byte of chunk.subarray(0, n)) {
        if (byte === CR || byte === LF) return new Uint8Array(line);
        if (byte === CTRL_C || (byte === CTRL_D && line.length === 0)) {
          throw new PasswordAbortedError();
        }
        if (byte === DEL || byte === BACKSPACE) removeLastCharacter(line);
        else if (byte === CTRL_U) line.length = 0;
        else if (byte >= 0x20) line.push(byte);
        tooLong(line);
      }
    }
  } finally {
    source.setRaw(false);
    // Enter was not echoed either: end the prompt's line.
    await writeAll(prompts, encoder.encode("\n"));
  }
}

/** Drops the last UTF-8 character: its continuation bytes (10xxxxxx), then its lead byte. */
function removeLastCharacter(line: number[]): void {
  while (line.length > 0 && (line[line.length - 1]! & 0xc0) === 0x80) line.pop();
  line.pop();
}
