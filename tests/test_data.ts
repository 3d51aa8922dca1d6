/**
 * Data for tests: bytes (joined, random, hashed), scratch folders and what
 * is in them, and a KV database filled without the server.
 */
import { createHash } from "node:crypto";

const encoder = new TextEncoder();

/**
 * Writes `keys` (value "v") straight into a KV database in `dataDir`, as a
 * server from before the key index left it, so the server builds its index
 * when it opens it: ten thousand KV SETs over the wire take seconds, this
 * takes a fraction of one. Deno KV allows 1,000 mutations and 81,920 key
 * bytes per commit.
 */
export async function populateKv(dataDir: string, keys: readonly string[]): Promise<void> {
  await Deno.mkdir(dataDir, { recursive: true });
  const kv = await Deno.openKv(`${dataDir}/switchboard.kv`);
  try {
    for (let i = 0; i < keys.length; i += 200) {
      const batch = kv.atomic();
      for (const key of keys.slice(i, i + 200)) batch.set(["kv", key], encoder.encode("v"));
      await batch.commit();
    }
  } finally {
    kv.close();
  }
}

/** The parts, one after the other, in one array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The names in a directory, sorted (hidden and temporary files included). */
export async function filesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** The sha256 of `bytes`, lowercase hex, as the protocol writes it. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** `n` random bytes (getRandomValues gives at most 64 KiB per call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(out.subarray(off, off + 65536));
  return out;
}

/** A fresh temporary folder, removed with everything in it by `await using`. */
export async function tempDir(
  prefix = "switchboard-test-",
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
