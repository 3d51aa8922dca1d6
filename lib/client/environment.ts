/**
 * The environment variables the client reads, in one list (docs/build.md: access
 * only to the variables the spec names): `deno task client`, the compiled
 * executable and the tests grant exactly these, and client.ts reads only
 * these.
 */

/** Every variable the client reads, with what for. */
export const CLIENT_ENV_VARIABLES = [
  // Defaults for --host and --port (docs/client.md).
  "SWITCHBOARD_HOST",
  "SWITCHBOARD_PORT",
  // The password of --user (docs/client.md), never taken from the command line.
  "SWITCHBOARD_PASSWORD",
  // The directory `deno task client` was run from: where relative local paths start.
  "INIT_CWD",
  // The home directory, for ~/.switchboard_history (USERPROFILE on Windows).
  "HOME",
  "USERPROFILE",
] as const;

/** The environment as the client uses it: each variable's value, if set. */
export type ClientEnvironment = Partial<Record<typeof CLIENT_ENV_VARIABLES[number], string>>;

/** The permission flag that grants reading exactly {@linkcode CLIENT_ENV_VARIABLES}. */
export const CLIENT_ENV_PERMISSION = `--allow-env=${CLIENT_ENV_VARIABLES.join(",")}`;
