/** KV: the shared, durable key-value store (docs/protocol.md#commands "KV"): SET, GET, DEL, INCR, KEYS, SCAN. */
import { hasControlCharacter } from "../escape.ts";
import {
  DataLinesBuilder,
  INTEGER_WORD as INTEGER,
  keyword,
  ok,
  ProtocolError,
  type Reply,
  type Request,
} from "../protocol/mod.ts";
import type { KeyValueStore } from "../stores/store.ts";
import {
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  NotAnIntegerError,
  ValueTooLargeError,
} from "../stores/kv_store.ts";
import { type Command, type CommandContext, expectArgs, truncate } from "./command.ts";
import { declared } from "./catalog.ts";

const encoder = new TextEncoder();

/** Throws `bad-args` unless `key` is 1–250 bytes with no whitespace or control characters. */
function checkKey(key: string): string {
  const bytes = encoder.encode(key).length;
  if (bytes === 0 || bytes > MAX_KEY_BYTES || /\s/.test(key) || hasControlCharacter(key)) {
    throw new ProtocolError(
      "bad-args",
      `keys are 1-${MAX_KEY_BYTES} bytes without whitespace or control characters: received "${
        truncate(key)
      }"`,
    );
  }
  return key;
}

type Subcommand = (request: Request, args: string[], context: CommandContext) => Promise<Reply>;

const SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map<string, Subcommand>([
  ["SET", async (request, args, { services }) => {
    expectArgs(args, { min: 2 }, "KV SET takes <key> <value>");
    const key = checkKey(args[1]!);
    // The value is the rest of the line, byte-exact; `KV SET k` stores "".
    await services.kv.set(key, request.rest(2) ?? "");
    return ok();
  }],
  ["GET", async (_request, args, { services }) => {
    expectArgs(args, { min: 2 }, "KV GET takes <key>");
    const key = checkKey(args[1]!);
    const value = await services.kv.get(key);
    if (value === undefined) throw new ProtocolError("not-found", `no key ${key}`);
    return ok(value);
  }],
  ["DEL", async (_request, args, { services }) => {
    expectArgs(args, { min: 2 }, "KV DEL takes <key>");
    const key = checkKey(args[1]!);
    if (!await services.kv.delete(key)) throw new ProtocolError("not-found", `no key ${key}`);
    return ok("deleted");
  }],
  ["INCR", async (_request, args, { services }) => {
    expectArgs(args, { min: 2, max: 3 }, "KV INCR takes <key> [<by>]");
    const key = checkKey(args[1]!);
    const by = args[2] ?? "1";
    if (!INTEGER.test(by)) {
      throw new ProtocolError(
        "bad-args",
        `by must be an integer (any size, may be negative): received "${truncate(by)}"`,
      );
    }
    try {
      return ok(String(await services.kv.increment(key, BigInt(by))));
    } catch (error) {
      if (error instanceof NotAnIntegerError) {
        throw new ProtocolError("bad-args", `the value of ${key} is not an integer`);
      }
      throw error;
    }
  }],
  ["KEYS", async (_request, args, { services }) => {
    expectArgs(args, { min: 1, max: 2 }, "KV KEYS takes [<prefix>]");
    // Counted first, holding nothing: one more than the limit tells "exactly
    // the limit" from "too many", and a refusal then costs no memory.
    const prefix = args[1] ?? "";
    if (await services.kv.countKeys(prefix, MAX_LISTED_KEYS + 1) > MAX_LISTED_KEYS) {
      throw new ProtocolError(
        "too-large",
        `more than ${MAX_LISTED_KEYS} keys match; page through them with KV SCAN [<prefix>] [AFTER <key>] [LIMIT <n>]`,
      );
    }
    return await listKeys(services.kv, prefix, { limit: MAX_LISTED_KEYS });
  }],
  ["SCAN", async (request, _args, { services }) => {
    const { prefix, after, limit } = parseScan(request);
    return await listKeys(services.kv, prefix, { after, limit });
  }],
]);

/** A listing's DATA reply, each key encoded as it comes from the store. */
async function listKeys(
  kv: KeyValueStore,
  prefix: string,
  options: { after?: string | undefined; limit: number },
): Promise<Reply> {
  const body = new DataLinesBuilder();
  await kv.eachKey(prefix, options, (key) => body.line(key));
  return body.reply();
}

/**
 * Most keys one KEYS or SCAN reply lists (docs/protocol.md#limits-and-bad-input: no reply is built whole
 * beyond a bound): 10,000 keys of at most 250 bytes is at most 2.5 MB.
 */
export const MAX_LISTED_KEYS = 10_000;
/** Keys a SCAN lists when it gives no LIMIT. */
export const DEFAULT_SCAN_LIMIT = 1_000;
const SCAN_USAGE = "KV SCAN takes [<prefix>] [AFTER <key>] [LIMIT <n>]";

/**
 * `KV SCAN [<prefix>] [AFTER <key>] [LIMIT <n>]`: AFTER and LIMIT are
 * keywords in any ASCII case, unless quoted (a prefix spelled like one is quoted).
 */
function parseScan(request: Request): { prefix: string; after?: string; limit: number } {
  const words = request.argWords().slice(1);
  const keywordAt = (i: number) => {
    const word = words[i];
    return word === undefined || word.quoted ? undefined : keyword(word.text);
  };
  let i = 0;
  let prefix = "";
  if (words[0] !== undefined && keywordAt(0) !== "AFTER" && keywordAt(0) !== "LIMIT") {
    prefix = words[0].text;
    i = 1;
  }
  let after: string | undefined;
  let limit: number | undefined;
  for (; i < words.length; i += 2) {
    const name = keywordAt(i);
    const value = words[i + 1]?.text;
    if ((name !== "AFTER" && name !== "LIMIT") || value === undefined) {
      throw new ProtocolError("bad-args", `${SCAN_USAGE}, got "${truncate(words[i]!.text)}"`);
    }
    if ((name === "AFTER" ? after : limit) !== undefined) {
      throw new ProtocolError("bad-args", `${SCAN_USAGE}: ${name} is given twice`);
    }
    if (name === "AFTER") after = value;
    else {
      limit = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
      if (!(limit >= 1 && limit <= MAX_LISTED_KEYS)) {
        throw new ProtocolError(
          "bad-args",
          `LIMIT must be an integer from 1 to ${MAX_LISTED_KEYS}: received "${truncate(value)}"`,
        );
      }
    }
  }
  return { prefix, ...(after === undefined ? {} : { after }), limit: limit ?? DEFAULT_SCAN_LIMIT };
}

/** `KV SET|GET|DEL|INCR|KEYS …`. */
export const KV: Command = {
  ...declared("KV"),
  usage: [
    "KV SET <key> <value>",
    "KV GET <key>",
    "KV DEL <key>",
    "KV INCR <key> [<by>]",
    "KV KEYS [<prefix>]",
    "KV SCAN [<prefix>] [AFTER <key>] [LIMIT <n>]",
  ],
  summary: "the shared durable store: value is the rest of the line; INCR is exact and atomic",
  // `KV SET <key> ` is not counted against --max-line: only the value is (docs/protocol.md#commands).
  measuredLength(request) {
    const [sub] = request.words(1);
    if (sub === undefined || keyword(sub) !== "SET") return encoder.encode(request.line).length;
    return encoder.encode(request.rest(2) ?? "").length;
  },
  async run(request, context) {
    // Subcommand and key first: SET's value is the raw rest of the line and
    // must not be parsed (quotes in it are data).
    const head = request.words(2);
    const name = head[0] === undefined ? undefined : keyword(head[0]);
    const sub = name === undefined ? undefined : SUBCOMMANDS.get(name);
    if (sub === undefined) {
      const got = name === undefined ? "nothing" : `"${truncate(head[0]!)}"`;
      throw new ProtocolError("bad-args", `KV takes SET, GET, DEL, INCR, KEYS or SCAN, got ${got}`);
    }
    try {
      return await sub(request, name === "SET" ? head : request.args(), context);
    } catch (error) {
      if (error instanceof ValueTooLargeError) {
        throw new ProtocolError("too-large", `values are limited to ${MAX_VALUE_BYTES} bytes`);
      }
      throw error;
    }
  },
};
