/**
 * The door before the Manager (docs/security.md, docs/protocol.md#admission-the-queue-and-its-limits): which connections are turned
 * away before they may take a queue place — an address that `--allow` or
 * `--deny` refuses, then, in protected mode, a client that is not on this
 * machine — and the startup warning about who can reach the port. Pure
 * decisions on addresses; the server says the line and closes
 * (turn_away.ts).
 */
import { err, type LineReply } from "../../protocol/mod.ts";
import { isLocal, parseIp } from "../../security/address.ts";
import { addressAllowed, type AddressPolicy } from "../../security/address_list.ts";

/** What a client that `--allow`/`--deny` refuses is told. */
export const ADDRESS_DENIED: LineReply = err("denied", "your address is not allowed");

/** What a client that is not local is told in protected mode (docs/security.md, word for word). */
export const PROTECTED_MODE_DENIED: LineReply = err(
  "denied",
  "protected mode: this server has no users; add --users FILE, or bind 127.0.0.1, or pass --insecure",
);

/** Who may come in, from the server's options. */
export interface GatePolicy {
  addresses: AddressPolicy;
  /** On without `--users` and without `--insecure`: only local clients are served. */
  protectedMode: boolean;
}

/** A connection turned away: the line it gets, and the reason for the log. */
export interface Refusal {
  reply: LineReply;
  reason: "address not allowed" | "protected mode";
}

/** The policy of a server with these options. */
export function gatePolicy(
  options: { addresses: AddressPolicy; usersFile: string | undefined; insecure: boolean },
): GatePolicy {
  return {
    addresses: options.addresses,
    protectedMode: options.usersFile === undefined && !options.insecure,
  };
}

/**
 * Why a client at `address` must be turned away, or undefined if it may
 * go on to the Manager. The address lists come first (docs/security.md), so a
 * denied local client is denied too.
 */
export function refusal(policy: GatePolicy, address: string): Refusal | undefined {
  const { allow, deny } = policy.addresses;
  if ((allow.length > 0 || deny.length > 0) && !addressAllowed(policy.addresses, address)) {
    return { reply: ADDRESS_DENIED, reason: "address not allowed" };
  }
  // The lab's case, every connection of it: no parsing.
  if (!policy.protectedMode || address === "127.0.0.1" || address === "::1") return undefined;
  if (isLocal(address)) return undefined;
  return { reply: PROTECTED_MODE_DENIED, reason: "protected mode" };
}

/**
 * True if `hostname` (the bound address) is reachable from this machine
 * only: 127.0.0.0/8, ::1, or `localhost`. `0.0.0.0` and `::` are every
 * interface, so not loopback.
 */
export function isLoopback(hostname: string): boolean {
  if (hostname === "localhost") return true;
  const bytes = parseIp(hostname);
  if (bytes === undefined) return false;
  if (bytes.length === 4) return bytes[0] === 127;
  return bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/**
 * The startup warning for a server bound to `where` (docs/security.md), or
 * undefined when there is nothing to warn about: on loopback, the lab
 * default is right. Elsewhere, without users, protected mode refuses
 * non-local clients (or, with `--insecure`, everyone may do everything);
 * with users but without TLS, passwords cross the network in clear.
 */
export function exposureWarning(
  where: string,
  options: { usersFile: string | undefined; insecure: boolean; tls: boolean },
): string | undefined {
  if (options.usersFile !== undefined) {
    if (options.tls) return undefined;
    return `${where} is reachable from other machines without TLS: AUTH passwords and all ` +
      "data cross the network in clear; add --tls-cert and --tls-key";
  }
  if (options.insecure) {
    return `--insecure: anyone who can reach ${where} can read, change and delete every file ` +
      "and key; add --users FILE to require a password";
  }
  return `protected mode: ${where} is reachable from other machines but there is no --users, ` +
    "so clients that are not on this machine (127.0.0.1, ::1) will be refused; " +
    "add --users FILE, or pass --insecure";
}
