/**
 * `--store postgres://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE` (docs/several-servers.md#the-shared-store):
 * parsed into the parts the driver gets one by one, so that it reads no
 * other setting from the environment, and shown with the password hidden
 * wherever it is printed.
 */
import { UsageError } from "../../usage_error.ts";

/** The environment variable a password may come from instead of the URL (as libpq's). */
export const PASSWORD_VARIABLE = "PGPASSWORD";
/** PostgreSQL's own port, when the URL names none. */
export const DEFAULT_POSTGRES_PORT = 5432;
/** What a password is replaced with in every log line and error. */
const HIDDEN = "***";
const SHAPE = "postgres://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE";

/** Where the shared store lives. */
export interface PostgresUrl {
  /** undefined: the driver's default (the operating system user, as psql). */
  user: string | undefined;
  /** From the URL; undefined: PGPASSWORD, or none. */
  password: string | undefined;
  host: string;
  port: number;
  database: string;
}

/** Parses a `--store` value; a malformed one is a {@linkcode UsageError} that never shows the password. */
export function parseStoreUrl(text: string): PostgresUrl {
  const fail = (why: string) =>
    new UsageError(`--store must be ${SHAPE}: ${why}: received "${redactUrlText(text)}"`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme !== "postgres" && scheme !== "postgresql") {
    throw fail("it must start with postgres://");
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw fail("it is not a URL");
  }
  if (url.search !== "" || url.hash !== "" || text.includes("?") || text.includes("#")) {
    throw fail("options (?…, #…) are not supported");
  }
  if (url.hostname === "") throw fail("the host is missing");
  const port = url.port === "" ? DEFAULT_POSTGRES_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw fail("the port must be 1 to 65535");
  }
  const path = url.pathname.replace(/^\//, "");
  if (path === "" || path.includes("/")) throw fail("it must name one database after the host");
  const decode = (part: string, what: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw fail(`the ${what} has a bad %-escape`);
    }
  };
  return {
    user: url.username === "" ? undefined : decode(url.username, "user"),
    password: url.password === "" ? undefined : decode(url.password, "password"),
    // URL keeps an IPv6 address in brackets; the driver wants it bare.
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    database: decode(path, "database name"),
  };
}

/** The URL as it may be shown: `postgres://user@host:port/database`, never a password. */
export function describeUrl(url: PostgresUrl): string {
  const host = url.host.includes(":") ? `[${url.host}]` : url.host;
  const user = url.user === undefined ? "" : `${encodeURIComponent(url.user)}@`;
  return `postgres://${user}${host}:${url.port}/${encodeURIComponent(url.database)}`;
}

/** `text` with any `user:password@` password, and `secret` wherever it occurs, replaced by ***. */
export function redact(text: string, secret?: string): string {
  let shown = redactUrlText(text);
  if (secret !== undefined && secret !== "") shown = shown.split(secret).join(HIDDEN);
  return shown;
}

/** Hides the password of a URL that may not even parse: whatever lies between `//user:` and the last `@`. */
function redactUrlText(text: string): string {
  return text.replace(/(\/\/[^/:@]*:)[^/]*@/g, `$1${HIDDEN}@`);
}

/** PGPASSWORD, where the environment may be read; undefined otherwise. */
export function readPassword(): string | undefined {
  try {
    return Deno.env.get(PASSWORD_VARIABLE) || undefined;
  } catch {
    return undefined; // no --allow-env for it: as if unset
  }
}
