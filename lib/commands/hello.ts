/** Identities: HELLO records who a connection is, WHO lists every connection. */
import { hasControlCharacter } from "../escape.ts";
import { dataLines, ok, ProtocolError, quoteWord } from "../protocol/mod.ts";
import { type Command, expectArgs, truncate } from "./command.ts";
import { declared } from "./catalog.ts";
import { quoted } from "../server/log.ts";

const HELLO_USAGE = "HELLO takes <name> <student-id> <github>";
/** GitHub's own rule: 1–39 letters, digits or single inner hyphens. */
const GITHUB_USER = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
/** Longest name or student id kept; they end up in logs and WHO lines. */
const MAX_FIELD = 100;

/** `HELLO <name> <student-id> <github>`: identify this connection. */
export const HELLO: Command = {
  ...declared("HELLO"),
  usage: ["HELLO <name> <student-id> <github>"],
  summary: 'identifies this connection (quote a name with spaces: "Ada Lovelace")',
  run(request, { session, services }) {
    const args = request.args();
    expectArgs(args, { min: 3 }, HELLO_USAGE);
    const [name, studentId, github] = args as [string, string, string];
    for (const [label, value] of [["name", name], ["student-id", studentId]] as const) {
      if (value.length === 0 || value.length > MAX_FIELD || hasControlCharacter(value)) {
        throw new ProtocolError(
          "bad-args",
          `${label} must be 1-${MAX_FIELD} characters without control characters`,
        );
      }
    }
    if (!GITHUB_USER.test(github)) {
      throw new ProtocolError(
        "bad-args",
        `github must be a GitHub user name (1-39 letters, digits, inner hyphens): received "${
          truncate(github)
        }"`,
      );
    }
    session.identity = { name, studentId, github };
    services.logger.info("hello", {
      client: session.id,
      name: quoted(name),
      student_id: studentId,
      github,
      address: `${session.address}:${session.port}`,
    });
    return ok(`hello ${name}`);
  },
};

/** `WHO`: one line per connection, running first, then the queue in order. */
export const WHO: Command = {
  ...declared("WHO"),
  usage: ["WHO"],
  summary: "lists connections: id address:port running|queued name connected-since",
  run(request, { services }) {
    expectArgs(request.args(), { min: 0 }, "WHO takes no arguments");
    const lines: string[] = [];
    for (const { session, state } of services.sessions()) {
      const name = session.identity ? quoteWord(session.identity.name) : "-";
      const host = session.address.includes(":") ? `[${session.address}]` : session.address;
      lines.push(
        `${session.id} ${host}:${session.port} ${state} ${name} ${session.connectedAt.toISOString()}`,
      );
    }
    return dataLines(lines);
  },
};
