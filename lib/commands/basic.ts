/** The connection basics: PING, ECHO and QUIT (with its aliases EXIT and STOP). */
import { ok, ProtocolError, type Reply } from "../protocol/mod.ts";
import type { Command } from "./command.ts";
import { declared } from "./catalog.ts";

/** PING's reply without text (also the dispatcher's fast path: lib/server/connection/dispatch.ts). */
export const PONG: Reply = ok("PONG");
const BYE: Reply = ok("bye", { close: true });

/** `PING [text]`: liveness check. */
export const PING: Command = {
  ...declared("PING"),
  usage: ["PING [text]"],
  summary: "replies PONG, or the text given, byte-exact",
  run(request) {
    const text = request.rest();
    // "PING " with nothing after the space is still a plain ping.
    return text === undefined || text === "" ? PONG : ok(text);
  },
};

/** `ECHO <text>`: the rest of the line, byte-exact. */
export const ECHO: Command = {
  ...declared("ECHO"),
  usage: ["ECHO <text>"],
  summary: "replies with the rest of the line, byte-exact",
  run(request) {
    const text = request.rest();
    if (text === undefined) throw new ProtocolError("bad-args", "ECHO takes <text>, got nothing");
    return ok(text);
  },
};

/** `QUIT`: say goodbye and close. */
export const QUIT: Command = {
  ...declared("QUIT"),
  usage: ["QUIT (also EXIT, STOP)"],
  summary: "says bye and closes the connection",
  run() {
    return BYE;
  },
};
