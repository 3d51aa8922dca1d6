/**
 * `--allow` and `--deny` (docs/security.md): comma-separated addresses and CIDR
 * ranges, IPv4 and IPv6, and the one decision made from them before a
 * connection reaches the Manager. Deny wins; an empty allow list allows
 * everyone; a non-empty one allows only what it matches.
 *
 * IPv4 ranges match IPv4 peers, also when a dual-stack listener reports
 * them mapped (`::ffff:10.0.0.7` is in 10.0.0.0/8); IPv6 ranges match IPv6
 * peers only, so `::/0` means "every IPv6 client", not everyone.
 */
import { formatIp, type IpBytes, parseIp } from "./address.ts";
import { UsageError } from "../usage_error.ts";

/** One range: an address and how many leading bits of it must match. */
export interface AddressRange {
  readonly network: IpBytes;
  readonly prefix: number;
}

/** A parsed `--allow` or `--deny` value. */
export type AddressList = readonly AddressRange[];

const ENTRY_FORMS =
  "expected an IPv4 or IPv6 address or CIDR range such as 10.0.0.0/8 or 2001:db8::/32";

/** Entries in one list; longer lists belong in a firewall, and a bound keeps each check cheap. */
const MAX_ENTRIES = 1024;

/**
 * Parses `value` (`10.0.0.0/8,192.168.1.7,2001:db8::/32`) for the option
 * named `option` (`--allow`); a bad entry is a UsageError naming it. Host
 * bits set below the prefix (`10.0.0.1/8`) are refused as a likely typo.
 */
export function parseAddressList(value: string, option: string): AddressList {
  const entries = value.split(",").map((e) => e.trim());
  if (entries.length > MAX_ENTRIES) {
    throw new UsageError(
      `${option} takes at most ${MAX_ENTRIES} entries: received ${entries.length}`,
    );
  }
  return entries.map((entry) => parseRange(entry, option));
}

function parseRange(entry: string, option: string): AddressRange {
  const bad = (why: string) =>
    new UsageError(`${option} entry ${JSON.stringify(entry)} ${why}: ${ENTRY_FORMS}`);
  if (entry === "") throw bad("is empty");
  const slash = entry.indexOf("/");
  const addressText = slash === -1 ? entry : entry.slice(0, slash);
  // A zone (`fe80::1%eth0`) names an interface of this machine, not a peer.
  const address = addressText.includes("%") ? undefined : parseIp(addressText);
  if (address === undefined) throw bad("is not an address");
  // A mapped IPv6 range (`::ffff:10.0.0.0/104`) is the IPv4 range it spells.
  const shift = address.length === 4 && addressText.includes(":") ? 96 : 0;
  const maxPrefix = address.length * 8;
  let prefix = maxPrefix;
  if (slash !== -1) {
    const text = entry.slice(slash + 1);
    const given = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
    if (!(given >= shift && given <= maxPrefix + shift)) {
      throw bad(`has a bad prefix length (${shift} to ${maxPrefix + shift})`);
    }
    prefix = given - shift;
  }
  const network = mask(address, prefix);
  if (!network.every((byte, i) => byte === address[i])) {
    const range = `${formatIp(network)}/${prefix}`;
    throw bad(`has bits set after its /${prefix + shift} prefix (did you mean ${range}?)`);
  }
  return { network, prefix };
}

/** True if `a` and `b` are of one family and agree on their first `prefix` bits. */
function sameNetwork(a: IpBytes, b: IpBytes, prefix: number): boolean {
  if (a.length !== b.length) return false;
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const bits = prefix & 7;
  if (bits === 0) return true;
  const keep = (0xff << (8 - bits)) & 0xff;
  return (a[whole]! & keep) === (b[whole]! & keep);
}

/** `address` with every bit after `prefix` cleared. */
function mask(address: IpBytes, prefix: number): IpBytes {
  return address.map((byte, i) => {
    const bits = Math.min(8, Math.max(0, prefix - 8 * i));
    return byte & ((0xff << (8 - bits)) & 0xff);
  });
}

/** True if `address` (as Deno reports a peer) lies in any range of `list`. */
export function listMatches(list: AddressList, address: string): boolean {
  const bytes = parseIp(address);
  if (bytes === undefined) return false;
  return list.some((range) => sameNetwork(range.network, bytes, range.prefix));
}

/** `--allow` and `--deny` together. */
export interface AddressPolicy {
  allow: AddressList;
  deny: AddressList;
}

/**
 * True if a peer at `address` may connect: not denied, and allowed by a
 * non-empty allow list or by its absence. An address Deno reports that is
 * not an IP (never seen in practice) matches no range, so it is refused by
 * a non-empty allow list and passes a deny list.
 */
export function addressAllowed(policy: AddressPolicy, address: string): boolean {
  if (listMatches(policy.deny, address)) return false;
  return policy.allow.length === 0 || listMatches(policy.allow, address);
}
