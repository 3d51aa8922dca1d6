/**
 * `--json` fields for the replies whose DATA body has a known shape
 * (docs/protocol.md#commands): STATS (`key value` lines, integer values), WHO (one connection a
 * line), FILE LIST (`size modified name`), KV KEYS and KV SCAN (one key a
 * line). The shape comes from the request the reply answers; a body that
 * does not parse as its shape, or any other DATA, keeps the plain payload.
 */
import { scanWords, tokenize } from "../protocol/mod.ts";

/** The replies with structured JSON fields. */
export type ReplyShape = "stats" | "who" | "files" | "keys";

/** One WHO line as JSON. */
export interface WhoEntry {
  id: number;
  address: string;
  port: number;
  state: string;
  /** The HELLO name, or null before HELLO. */
  name: string | null;
  connected_since: string;
}

/** One FILE LIST line as JSON. */
export interface FileEntry {
  name: string;
  size: number;
  modified: string;
}

/** The shape of the reply to request `line`, if it has one. */
export function shapeOf(line: string): ReplyShape | undefined {
  let words: string[];
  try {
    words = tokenize(line).map((word) => word.toUpperCase());
  } catch {
    return undefined; // unbalanced quotes: the server answers ERR bad-request
  }
  const [command, sub] = words;
  if (command === "STATS") return "stats";
  if (command === "WHO") return "who";
  if (command === "FILE" && sub === "LIST") return "files";
  if (command === "KV" && (sub === "KEYS" || sub === "SCAN")) return "keys";
  return undefined;
}

/**
 * The JSON fields of a `shape` body: STATS counters at the top level (so
 * `jq .running` works), `connections`, `files` or `keys` arrays otherwise;
 * undefined when a line does not fit the shape.
 */
export function structuredFields(
  shape: ReplyShape,
  text: string,
): Record<string, unknown> | undefined {
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  switch (shape) {
    case "stats":
      return parseAll(lines, parseStat, (entries) => Object.fromEntries(entries));
    case "who":
      return parseAll(lines, parseWho, (connections) => ({ connections }));
    case "files":
      return parseAll(lines, parseFile, (files) => ({ files }));
    case "keys":
      return { keys: lines };
  }
}

/** Every line through `parse`, then `wrap`; undefined if any line does not parse. */
function parseAll<T>(
  lines: string[],
  parse: (line: string) => T | undefined,
  wrap: (items: T[]) => Record<string, unknown>,
): Record<string, unknown> | undefined {
  const items: T[] = [];
  for (const line of lines) {
    const item = parse(line);
    if (item === undefined) return undefined;
    items.push(item);
  }
  return wrap(items);
}

/** `key value` with an integer value. */
function parseStat(line: string): [string, number] | undefined {
  const match = /^([a-z0-9_]+) (-?\d+)$/.exec(line);
  return match === null ? undefined : [match[1]!, Number(match[2])];
}

/** `<id> <address>:<port> <state> <name or -> <connected-since>`; an IPv6 address is bracketed. */
function parseWho(line: string): WhoEntry | undefined {
  let words;
  try {
    words = scanWords(line);
  } catch {
    return undefined;
  }
  if (words.length !== 5) return undefined;
  const [id, endpoint, state, name, since] = words as [typeof words[0], ...typeof words];
  const where = /^\[?([^\]]*?)\]?:(\d+)$/.exec(endpoint!.text);
  if (!/^\d+$/.test(id.text) || where === null) return undefined;
  return {
    id: Number(id.text),
    address: where[1]!,
    port: Number(where[2]),
    state: state!.text,
    // An unquoted `-` is "no name"; a name that is a dash is sent quoted.
    name: name!.text === "-" && !name!.quoted ? null : name!.text,
    connected_since: since!.text,
  };
}

/** `<size> <modified> <name>`; the name is the rest of the line (it may hold spaces). */
function parseFile(line: string): FileEntry | undefined {
  const match = /^(\d+) (\S+) (.+)$/.exec(line);
  return match === null
    ? undefined
    : { name: match[3]!, size: Number(match[1]), modified: match[2]! };
}
