/**
 * AUTH (docs/security.md): a connection signs in as a user of `--users`. The
 * decision — users, the dummy hash for unknown names, the throttle, the
 * hashing slots — is the Authenticator's (lib/security/authenticator.ts);
 * this file turns it into replies and log lines.
 */
import { ok, ProtocolError, type Reply } from "../protocol/mod.ts";
import { throttledMessage, WRONG_CREDENTIALS } from "../security/authenticator.ts";
import { type Command, expectArgs } from "./command.ts";
import { declared } from "./catalog.ts";
import { quoted } from "../server/log.ts";

/** What AUTH answers on a server started without `--users`: there is no one to be. */
export const NO_USERS_MESSAGE = "this server has no users (it runs without --users)";

/** `AUTH <name> <password>`. */
export const AUTH: Command = {
  ...declared("AUTH"),
  usage: ["AUTH <name> <password>"],
  summary: "signs in as a user of --users; quote a password that has spaces",
  run(request, { session, services }): Reply | Promise<Reply> {
    const args = request.args();
    expectArgs(args, { min: 2 }, "AUTH takes <name> <password>");
    const auth = services.auth;
    if (auth === undefined) throw new ProtocolError("denied", NO_USERS_MESSAGE);
    const [name, password] = args as [string, string];
    return auth.authenticate(session.address, name, password).then((result) => {
      if (result.ok) {
        // A second AUTH replaces the first (docs/security.md).
        session.user = result.user;
        services.logger.info("client authenticated", {
          client: session.id,
          user: quoted(result.user.name),
          role: result.user.role,
        });
        return ok(`welcome ${result.user.name} ${result.user.role}`);
      }
      // A failed AUTH leaves an earlier successful one in force, as in Redis.
      if (result.reason === "throttled") {
        // Not checked, and a guesser may send thousands: one line each only with -v.
        services.logger.debug("AUTH refused: too many failures", {
          client: session.id,
          name: quoted(name),
        });
        throw new ProtocolError("denied", throttledMessage(result.retryAfterS));
      }
      // The name is logged (escaped by the logger), never the password.
      services.logger.info("AUTH denied", {
        client: session.id,
        name: quoted(name),
        reason: "wrong name or password",
      });
      throw new ProtocolError("denied", WRONG_CREDENTIALS);
    });
  },
};
