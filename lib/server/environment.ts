/**
 * The environment variables the server may read, as one `--allow-env` flag
 * (docs/build.md: environment access only to the variables named in the
 * docs): the network thread's scheduling settings (net_thread.ts), and what
 * the PostgreSQL driver of `--store` reads (lib/stores/postgres/database.ts).
 */
import { SCHEDULING } from "./net_thread.ts";
import { POSTGRES_VARIABLES } from "../stores/postgres/database.ts";

/** Every variable the server reads. */
export const SERVER_ENV_VARIABLES: readonly string[] = [
  ...Object.keys(SCHEDULING),
  ...POSTGRES_VARIABLES,
];

/** The permission flag that grants exactly those. */
export const SERVER_ENV_PERMISSION = `--allow-env=${SERVER_ENV_VARIABLES.join(",")}`;
