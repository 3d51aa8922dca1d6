/**
 * What the client proves and whom it trusts (SPEC §7): the password of
 * `--user`, from `SWITCHBOARD_PASSWORD` or a prompt without echo, never
 * from the command line (where `ps` and shell history would show it); and
 * the CA certificate of `--cacert`.
 */
import type { ByteSink } from "../io.ts";
import { type PasswordSource, readPassword } from "../security/password_input.ts";
import { UsageError } from "../usage_error.ts";

/** The environment variable `--user` takes its password from. */
export const PASSWORD_VARIABLE = "SWITCHBOARD_PASSWORD";

/** The narrowest permission that lets the client read it (deno.json's client task). */
export const PASSWORD_PERMISSION = `--allow-env=${PASSWORD_VARIABLE}`;

/** A name and password for AUTH. */
export interface Credentials {
  name: string;
  password: string;
}

/** Where {@linkcode passwordFor} looks; the entry point passes the real ones, tests their own. */
export interface PasswordSources {
  /** Reads an environment variable; undefined if unset or not permitted. */
  env: (name: string) => string | undefined;
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
  const fromEnv = sources.env(PASSWORD_VARIABLE);
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!sources.stdin.isTerminal()) {
    throw new UsageError(
      `--user ${user} needs its password in ${PASSWORD_VARIABLE}: stdin is not a terminal to ask on`,
    );
  }
  return await readPassword(`password for ${user}: `, {
    source: sources.stdin,
    prompts: sources.prompts,
  });
}

/** Reads an environment variable without prompting for the permission: unset when it is not granted. */
export function readEnv(name: string): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
  return state === "granted" ? Deno.env.get(name) : undefined;
}

/** The PEM text of the `--cacert` file; a file that cannot be read is a UsageError naming it. */
export async function loadCaCert(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : (error instanceof Error ? error.message : String(error));
    throw new UsageError(`--cacert ${path}: ${why}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new UsageError(`--cacert ${path}: no PEM certificate in it`);
  }
  return text;
}
