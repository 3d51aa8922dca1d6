/**
 * A client's IP address as Deno reports it (`remoteAddr.hostname`): parsed
 * to bytes, so that spellings of one address compare equal, and the two
 * questions the server asks of it: is it local (protected mode, docs/security.md),
 * and which key does `--max-per-ip` count it under (docs/server.md#server-options).
 *
 * IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, what a dual-stack `::`
 * listener reports for an IPv4 peer) are the IPv4 address: it is the same
 * peer, and treating it otherwise would let an IPv4 client slip past an
 * IPv4 rule by reaching the IPv6 socket.
 */

/** An address as bytes: 4 for IPv4 (including mapped ones), 16 for IPv6. */
export type IpBytes = Uint8Array;

const IPV4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6_GROUP = /^[0-9A-Fa-f]{1,4}$/;
/** `::ffff:0:0/96`: where IPv4 lives inside IPv6. */
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * Parses an IPv4 or IPv6 address (an IPv6 zone such as `%eth0` is dropped),
 * or returns undefined if `text` is not one. Mapped IPv6 addresses come back
 * as 4 bytes.
 */
export function parseIp(text: string): IpBytes | undefined {
  if (text.includes(":")) {
    const bytes = parseIpv6(text.replace(/%[^%]*$/, ""));
    return bytes && MAPPED_PREFIX.every((b, i) => bytes[i] === b) ? bytes.slice(12) : bytes;
  }
  return parseIpv4(text);
}

function parseIpv4(text: string): IpBytes | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => IPV4_PART.test(p))) return undefined;
  return new Uint8Array(parts.map(Number));
}

function parseIpv6(text: string): IpBytes | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => half === "" ? [] : half.split(":");
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...tail];
  // An embedded IPv4 address may end the text (`::ffff:10.0.0.1`, `64:ff9b::1.2.3.4`).
  const last = all[all.length - 1];
  let ipv4: IpBytes | undefined;
  if (last !== undefined && last.includes(".")) {
    // ...at the very end only: `1.2.3.4::` is not an address.
    if (halves.length === 2 && tail.length === 0) return undefined;
    ipv4 = parseIpv4(last);
    if (ipv4 === undefined) return undefined;
    (tail.length > 0 ? tail : head).pop();
  }
  for (const group of [...head, ...tail]) {
    if (!IPV6_GROUP.test(group)) return undefined;
  }
  const given = head.length + tail.length + (ipv4 ? 2 : 0);
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const words: number[] = [];
  words.push(...head.map((g) => parseInt(g, 16)));
  words.push(...new Array(8 - given).fill(0));
  words.push(...tail.map((g) => parseInt(g, 16)));
  const bytes = new Uint8Array(16);
  for (const [i, word] of words.entries()) {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  }
  if (ipv4) bytes.set(ipv4, 12);
  return bytes;
}

/**
 * True for exactly 127.0.0.1 and ::1 (also spelled `::ffff:127.0.0.1` or
 * `0:0:0:0:0:0:0:1`). Not the rest of 127.0.0.0/8, as in Redis: a test can
 * bind 127.0.0.2 to play a remote peer without leaving the machine.
 */
export function isLocal(address: string): boolean {
  const bytes = parseIp(address);
  if (bytes === undefined) return false;
  if (bytes.length === 4) return bytes.join(".") === "127.0.0.1";
  return bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/** Bits of an IPv6 address that `--max-per-ip` and the AUTH throttle count by. */
const IPV6_KEY_BITS = 64;

/**
 * The key `--max-per-ip` and the AUTH throttle count `address` under: an
 * IPv4 address as dotted decimal, an IPv6 address as its /64 network
 * (`2001:db8:1:2::/64`), since one IPv6 host is commonly handed a whole
 * /64. Text that is not an address is its own key.
 */
export function perAddressKey(address: string): string {
  const bytes = parseIp(address);
  if (bytes === undefined) return address;
  if (bytes.length === 4) return bytes.join(".");
  const network = new Uint8Array(16);
  network.set(bytes.subarray(0, IPV6_KEY_BITS / 8));
  return `${formatIp(network)}/${IPV6_KEY_BITS}`;
}

/** Writes an address in its canonical form (RFC 5952 for IPv6: lower case, longest zero run as `::`). */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return bytes.join(".");
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not shortened
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart === -1) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/** `host:port` as a log line or a URL writes it, with an IPv6 host in brackets (`[::1]:12000`). */
export function formatHostPort(addr: { hostname: string; port: number }): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
