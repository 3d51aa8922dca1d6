/**
 * What the client proves and whom it trusts (docs/client.md): the password of
 * `--user`, from `SWITCHBOARD_PASSWORD` or a prompt without echo, never
 * from the command line (where `ps` and shell history would show it); and
 * the CA certificate of `--cacert`.
 */
import type { ByteSink } from "../io.ts";
import { type PasswordSource, readPassword } from "../security/password_input.ts";
import { UsageError } from "../usage_error.ts";
import { LocalFileError, localFileError } from "./local_files.ts";
import { localPath, type PathBase } from "../paths.ts";

/** The environment variable `--user` takes its password from (lib/client/environment.ts lists it). */
export const PASSWORD_VARIABLE = "SWITCHBOARD_PASSWORD";

/** A name and password for AUTH. */
export interface Credentials {
  name: string;
  password: string;
}

/** Where {@linkcode passwordFor} looks; the entry point passes the real ones, tests their own. */
export interface PasswordSources {
  /** The value of `SWITCHBOARD_PASSWORD`, if set. */
  fromEnv: string | undefined;
  /** Where a prompt reads keys from (`Deno.stdin`). */
  stdin: PasswordSource;
  /** Where the prompt is written (`Deno.stderr`). */
  prompts: ByteSink;
}

/**
 * The password of `user`: `SWITCHBOARD_PASSWORD` if set, else typed at a
 * prompt with echo off when stdin is a terminal. Throws UsageError when
 * neither can be had (stdin is a pipe: it carries the requests, not the
 * password), PasswordAbortedError on Ctrl-C at the prompt.
 */
export async function passwordFor(user: string, sources: PasswordSources): Promise<string> {
  if (sources.fromEnv !== undefined && sources.fromEnv !== "") return sources.fromEnv;
  if (!sources.stdin.isTerminal()) {
    // ssh and psql would ask on /dev/tty; Deno opens it only with --allow-all (denoland/deno#27980).
    throw new UsageError(
      `--user ${user} needs its password in ${PASSWORD_VARIABLE}: stdin is not a terminal to ask on`,
    );
  }
  return await readPassword(`password for ${user}: `, {
    source: sources.stdin,
    prompts: sources.prompts,
  });
}

/**
 * The PEM text of the `--cacert` file, `typed` resolved against `base` as
 * every local path is; a file that cannot be read, or holds no
 * certificate, is a LocalFileError naming it.
 */
export async function loadCaCert(typed: string, base: PathBase = {}): Promise<string> {
  const path = localPath(typed, base);
  let text: string;
  try {
    text = await Deno.readTextFile(path.resolved);
  } catch (error) {
    throw localFileError(`--cacert ${typed}`, error);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new LocalFileError(`--cacert ${typed}: no PEM certificate in it`);
  }
  return text;
}
