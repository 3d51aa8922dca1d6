/**
 * `testContext()`: a command context for unit tests of commands, with only
 * the services a test gives; any other service throws when a command
 * touches it, naming the service. A new service adds one line here, not a
 * change to every command's test.
 */
import type { CommandContext, Services, Session } from "../lib/commands/command.ts";
import { CommandTable } from "../lib/commands/mod.ts";
import { Logger } from "../lib/server/log.ts";
import { encodeReply, ProtocolError, type Reply, Request } from "../lib/protocol/mod.ts";

const SERVICES = ["files", "kv", "workers"] as const;

/** A context whose services are `given`; the logger discards, sessions and counters are empty. */
export function testContext(
  given: Partial<Services> = {},
  options: { session?: Partial<Session> } = {},
): CommandContext {
  const services: Record<string, unknown> = {
    logger: new Logger(),
    sessions: () => [],
    counters: () => [],
    auth: undefined,
  };
  for (const name of SERVICES) {
    Object.defineProperty(services, name, {
      get() {
        throw new Error(`this test gave the command no ${name} service`);
      },
      configurable: true,
    });
  }
  for (const [name, value] of Object.entries(given)) {
    Object.defineProperty(services, name, { value, configurable: true });
  }
  return {
    session: {
      id: 1,
      address: "127.0.0.1",
      port: 1,
      connectedAt: new Date(0),
      identity: undefined,
      user: undefined,
      ...options.session,
    },
    services: services as unknown as Services,
    signal: new AbortController().signal,
    payload: () => {
      throw new Error("this test gave the command no payload");
    },
  };
}

const table = new CommandTable();
const decoder = new TextDecoder();

/**
 * Runs one request line through the real command table, the way the
 * handler does (a thrown ProtocolError is the reply), and renders the reply
 * as the bytes a client would read, without the final LF.
 */
export async function runLine(line: string, context = testContext()): Promise<string> {
  let reply: Reply;
  try {
    const request = new Request(line);
    reply = await table.get(request.command, request.word).run(request, context);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    reply = { kind: "err", code: error.code, message: error.message };
  }
  return decoder.decode(encodeReply(reply)).trimEnd();
}
