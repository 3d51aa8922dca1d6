/**
 * `kv keys [prefix]` for any number of keys. `KV KEYS` answers at most
 * 10,000 keys and refuses more with `ERR too-large` (docs/protocol.md#commands, docs/protocol.md#limits-and-bad-input: no reply
 * is built whole in memory); the client then pages through the same keys
 * with `KV SCAN … AFTER <last key> LIMIT …`, so a user never meets the limit.
 * KEYS is tried first because it is one round trip for the usual listing.
 * Keys are handed on page by page: memory stays flat however many there are.
 */
import { quoteWord } from "../protocol/mod.ts";
import type { ParsedReply } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";

/**
 * Keys asked for per KV SCAN page: the server's largest page, so the fewest
 * round trips; a page this size is about as large as one KV KEYS reply.
 */
export const SCAN_PAGE_KEYS = 10_000;
/** SCAN's keywords; a prefix spelled like one must be quoted to be read as the prefix. */
const SCAN_KEYWORDS = ["AFTER", "LIMIT"];

const decoder = new TextDecoder();

/**
 * Lists every key with `prefix`, in ascending byte order, passing each page
 * to `onPage`; resolves to undefined when done, or to the server's ERR.
 * A key present during the whole listing is listed exactly once.
 */
export async function listKeys(
  connection: Connection,
  prefix: string | undefined,
  onPage: (keys: string[]) => void,
): Promise<ParsedReply | undefined> {
  const prefixWord = prefix === undefined ? "" : ` ${prefixForScan(prefix)}`;
  await connection.send(`KV KEYS${prefix === undefined ? "" : ` ${quoteWord(prefix)}`}`);
  let reply = await connection.read();
  if (reply.kind === "err" && reply.code === "too-large") {
    let after: string | undefined;
    for (;;) {
      const afterWords = after === undefined ? "" : ` AFTER ${quoteWord(after)}`;
      await connection.send(`KV SCAN${prefixWord}${afterWords} LIMIT ${SCAN_PAGE_KEYS}`);
      reply = await connection.read();
      if (reply.kind !== "data") return reply;
      const keys = linesOf(reply.body);
      if (keys.length > 0) onPage(keys);
      // Fewer than asked for means the end (docs/protocol.md#commands).
      if (keys.length < SCAN_PAGE_KEYS) return undefined;
      after = keys.at(-1);
    }
  }
  if (reply.kind !== "data") return reply;
  onPage(linesOf(reply.body));
  return undefined;
}

/** The prefix as a SCAN word: quoted when it reads like a keyword, as docs/protocol.md#commands asks. */
function prefixForScan(prefix: string): string {
  const quoted = quoteWord(prefix);
  return SCAN_KEYWORDS.includes(prefix.toUpperCase()) && quoted === prefix ? `"${prefix}"` : quoted;
}

/** The LF-separated lines of a DATA body. */
function linesOf(body: Uint8Array): string[] {
  const text = decoder.decode(body);
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}
