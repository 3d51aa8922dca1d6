/**
 * What the server reads from disk for docs/security.md and reads again on SIGHUP:
 * the users file (into the Authenticator that AUTH asks) and the TLS
 * certificate and key (into the TLS port). At startup a failure stops the
 * server with one line naming the file (and line); on reload a failure
 * keeps what was loaded and logs one error line, so a typo in an edited
 * file never locks everyone out of a running server.
 */
import type { AuthService } from "../commands/command.ts";
import type { Logger } from "./log.ts";
import { Authenticator } from "../security/authenticator.ts";
import { loadTlsFiles, type TlsFiles } from "../security/tls_files.ts";
import {
  loadUsers,
  looseUsersFileMode,
  type Users,
  UsersFileError,
} from "../security/users_file.ts";
import { StartupError } from "./startup_error.ts";
import type { Stats } from "./observability/stats.ts";

/** Which files to read: the server's `--users`, `--tls-cert` and `--tls-key`. */
export interface SecurityPaths {
  usersFile: string | undefined;
  tls: { certFile: string; keyFile: string } | undefined;
}

/** The users and the certificate in force, and how to read them again. */
export class SecurityFiles {
  /** Checks AUTH against the users in force; undefined without `--users`. */
  readonly authenticator: Authenticator | undefined;
  #tls: TlsFiles | undefined;
  readonly #paths: SecurityPaths;
  readonly #logger: Logger;

  private constructor(
    paths: SecurityPaths,
    logger: Logger,
    users: Users | undefined,
    tls: TlsFiles | undefined,
  ) {
    this.#paths = paths;
    this.#logger = logger;
    this.authenticator = users === undefined ? undefined : new Authenticator(users);
    this.#tls = tls;
  }

  /**
   * Reads the users file and the certificate and key, if given; throws
   * {@linkcode StartupError} (stage `users` or `tls`) if one cannot be used.
   * Warns about a users file others can read and an expired certificate.
   */
  static async load(paths: SecurityPaths, logger: Logger): Promise<SecurityFiles> {
    let users: Users | undefined;
    if (paths.usersFile !== undefined) {
      try {
        users = await loadUsers(paths.usersFile);
      } catch (error) {
        throw new StartupError("users", error);
      }
    }
    let tls: TlsFiles | undefined;
    if (paths.tls !== undefined) {
      try {
        tls = await loadTlsFiles(paths.tls.certFile, paths.tls.keyFile);
      } catch (error) {
        throw new StartupError("tls", error);
      }
    }
    const files = new SecurityFiles(paths, logger, users, tls);
    if (users !== undefined) await files.#loadedUsers(users);
    if (tls !== undefined) files.#loadedTls(tls, "TLS certificate");
    return files;
  }

  /** AUTH's checks for the commands, counted in STATS `auth_failures_total`; undefined without `--users`. */
  authService(stats: Stats): AuthService | undefined {
    const authenticator = this.authenticator;
    if (authenticator === undefined) return undefined;
    return {
      async authenticate(address, name, password) {
        const result = await authenticator.authenticate(address, name, password);
        if (!result.ok) stats.auth_failures_total++;
        return result;
      },
    };
  }

  /** The certificate and key in force; undefined without `--tls-cert`. */
  get tls(): TlsFiles | undefined {
    return this.#tls;
  }

  /**
   * Reads both files again (SIGHUP). New users are in force for the next
   * AUTH; a certificate or key that changed is handed to `useTls` (the TLS
   * port's next handshakes use it). Either file that fails keeps its old contents, with one
   * error line each. A users file that would leave no users (emptied, only
   * comments) fails too: with it every AUTH would be refused, and under load
   * the failures would throttle every address behind a balancer. The line of a
   * reload that removes users names them. Never throws.
   */
  async reload(useTls: (files: TlsFiles) => void): Promise<void> {
    const { usersFile, tls } = this.#paths;
    if (usersFile !== undefined && this.authenticator !== undefined) {
      const old = this.authenticator.users;
      const before = old.size;
      try {
        const users = await loadUsers(usersFile);
        if (users.size === 0) {
          throw new UsersFileError(usersFile, undefined, "no users (empty or only comments)");
        }
        this.authenticator.replaceUsers(users);
        const removed = [...old.keys()].filter((name) => !users.has(name));
        await this.#loadedUsers(users, "reloaded", removed);
      } catch (error) {
        this.#logger.error(
          `reload of the users file failed; the ${before} users loaded before stay in force`,
          { error: message(error) },
        );
      }
    }
    if (tls !== undefined) {
      try {
        const files = await loadTlsFiles(tls.certFile, tls.keyFile);
        if (files.cert === this.#tls?.cert && files.key === this.#tls?.key) {
          // Nothing to swap: the log says so, and the port's handshakes go on as they were.
          this.#logger.info("TLS certificate unchanged", { subject: files.subject });
        } else {
          useTls(files);
          this.#tls = files;
          this.#loadedTls(files, "TLS certificate reloaded");
        }
      } catch (error) {
        this.#logger.error(
          "reload of the TLS certificate failed; the one loaded before stays in force",
          { error: message(error) },
        );
      }
    }
  }

  /** Logs what was loaded, and warns if the file's hashes are readable by others. */
  async #loadedUsers(users: Users, verb = "loaded", removed: string[] = []): Promise<void> {
    const path = this.#paths.usersFile!;
    this.#logger.info(`users ${verb}`, {
      file: path,
      users: users.size,
      // Names are USER_NAME (no spaces or quotes), so one space separates them unambiguously.
      removed: removed.length === 0 ? undefined : removed.join(" "),
    });
    let mode: number | undefined;
    try {
      mode = await looseUsersFileMode(path);
    } catch {
      return; // read a moment ago; if it is gone now, the next reload will say so
    }
    if (mode === undefined) return;
    // The hashes are what an offline guesser needs (password_hash.ts).
    this.#logger.warn(
      `the users file ${path} can be read by group or others (mode ${
        mode.toString(8).padStart(4, "0")
      }): run chmod 600 ${path}`,
    );
  }

  #loadedTls(files: TlsFiles, what: string): void {
    this.#logger.info(what, { subject: files.subject, expires: files.notAfter.toISOString() });
    if (files.notAfter.getTime() < Date.now()) {
      this.#logger.warn(
        `the TLS certificate ${
          this.#paths.tls!.certFile
        } expired on ${files.notAfter.toISOString()}: ` +
          "clients will refuse it",
      );
    }
    if (files.isCa) {
      this.#logger.warn(
        `the TLS certificate ${this.#paths.tls!.certFile} is a CA certificate (as a plain ` +
          "openssl req -x509 makes), which clients refuse as a server's own (CaUsedAsEndEntity): " +
          "make a CA and a server certificate signed by it, " +
          "docs/security.md#a-certificate-for-a-private-network",
      );
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
