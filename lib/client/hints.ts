/**
 * The line the client adds under an ERR a person is likely to meet while
 * learning (docs/client.md#hints): a mistyped command gets the one meant
 * (`PIGN` → did you mean PING?), and `noauth` says how the client signs in.
 * Shown in the shell and after a one-shot command, never in piped mode or
 * with --json, where the output is for programs.
 */
import type { ParsedReply } from "../protocol/mod.ts";
import { closest } from "../suggest.ts";
import { CLIENT_COMMANDS, PROTOCOL_COMMANDS } from "./completion.ts";

/** The hint for `reply` to `request`, or undefined. */
export function hintFor(reply: ParsedReply, request: string | undefined): string | undefined {
  if (reply.kind !== "err") return undefined;
  if (reply.code === "noauth") {
    return "this server has users: start the client with --user NAME (it asks for the password)";
  }
  if (reply.code !== "unknown-command" || request === undefined) return undefined;
  const typed = request.trimStart().split(/[ \t]/, 1)[0] ?? "";
  const meant = closest(typed, [...PROTOCOL_COMMANDS, ...CLIENT_COMMANDS]);
  if (meant === undefined) return undefined;
  // In the case it was typed in: PIGN → PING, pign → ping.
  const spelled = /[a-z]/.test(typed) ? meant : meant.toUpperCase();
  return `did you mean ${spelled}?`;
}
