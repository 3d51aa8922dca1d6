/**
 * The PROXY protocol header (docs/server.md#behind-a-load-balancer) that a
 * load balancer such as HAProxy (`send-proxy-v2`) or nginx stream
 * (`proxy_protocol on`, version 1) puts before a client's first byte to name
 * the client it hides: parsed from bytes, incrementally, with no sockets.
 * The door reads (lib/server/door/proxy_door.ts); this file only decides.
 *
 * Both versions, as HAProxy's proxy-protocol.txt defines them:
 *
 * - version 1, one text line: `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`
 *   (or `TCP6`), at most 107 bytes; `PROXY UNKNOWN …\r\n` names no client;
 * - version 2, binary: a 12-byte signature, a version/command byte
 *   (`0x21` PROXY, `0x20` LOCAL: the balancer's own health check), a
 *   family byte, a 16-bit length, then the addresses and TLVs (skipped).
 *
 * A header that names no client (v1 `UNKNOWN`, v2 `LOCAL`, v2 `UNSPEC` or
 * UNIX family) keeps the connection's own address: `source` is undefined.
 */
import { formatIp, parseIp } from "../security/address.ts";

/** The first 12 bytes of every version 2 header. */
export const PROXY_V2_SIGNATURE: Uint8Array = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
/** `PROXY ` : how every version 1 header begins. */
const V1_PREFIX = new TextEncoder().encode("PROXY ");
/** Longest version 1 line, CRLF included (proxy-protocol.txt §2.1). */
export const PROXY_V1_MAX_BYTES = 107;
/** The fixed part of a version 2 header: signature, command, family, length. */
const V2_FIXED_BYTES = 16;
/**
 * Largest version 2 address-and-TLV block accepted. The format allows
 * 65,535 bytes; HAProxy's addresses and usual TLVs (ALPN, authority, SSL
 * details) take a few hundred. Each header being read holds its bytes, so
 * the bound keeps the door's memory at 1,024 × 4 KiB when every
 * header-reading slot is taken by a hostile peer. A longer one is malformed.
 */
export const PROXY_V2_MAX_BLOCK_BYTES = 4096;
/** Largest header this parser ever needs buffered to decide. */
export const PROXY_MAX_HEADER_BYTES = V2_FIXED_BYTES + PROXY_V2_MAX_BLOCK_BYTES;

/** The client a header names. */
export interface ProxySource {
  /** Canonical text form (IPv4 dotted, IPv6 RFC 5952; an IPv4-mapped IPv6 as IPv4). */
  hostname: string;
  port: number;
}

/** What the bytes so far make of a header. */
export type ProxyHeaderResult =
  /** A prefix of a header that may still become valid: read more. */
  | { kind: "more" }
  /**
   * A whole header of `consumed` bytes (what follows is the client's);
   * `source` undefined: keep the connection's own address.
   */
  | { kind: "done"; consumed: number; version: 1 | 2; source: ProxySource | undefined }
  /** Not a PROXY header, and no more bytes can make it one. */
  | { kind: "malformed"; reason: string };

const MORE: ProxyHeaderResult = { kind: "more" };

/**
 * Decides what `bytes` (everything received so far, from the first byte of
 * the connection) hold. Pure; never throws; looks at no more than
 * {@linkcode PROXY_MAX_HEADER_BYTES}.
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeaderResult {
  if (bytes.length === 0) return MORE;
  if (bytes[0] === PROXY_V2_SIGNATURE[0]) return parseV2(bytes);
  if (bytes[0] === V1_PREFIX[0]) return parseV1(bytes);
  return malformed("does not begin with a PROXY signature");
}

function malformed(reason: string): ProxyHeaderResult {
  return { kind: "malformed", reason };
}

/** True if `bytes` and `expected` agree on their common length. */
function agrees(bytes: Uint8Array, expected: Uint8Array): boolean {
  const n = Math.min(bytes.length, expected.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== expected[i]) return false;
  return true;
}

function parseV1(bytes: Uint8Array): ProxyHeaderResult {
  if (!agrees(bytes, V1_PREFIX)) return malformed("version 1 header does not begin with PROXY");
  const n = Math.min(bytes.length, PROXY_V1_MAX_BYTES);
  let end = -1;
  for (let i = 0; i < n; i++) {
    const byte = bytes[i]!;
    if (byte === 0x0a) {
      if (i === 0 || bytes[i - 1] !== 0x0d) return malformed("version 1 line ends without CRLF");
      end = i + 1;
      break;
    }
    // Printable ASCII and the CR before the LF only.
    if ((byte < 0x20 && byte !== 0x0d) || byte > 0x7e) {
      return malformed("version 1 line holds a byte that is not printable ASCII");
    }
    if (byte === 0x0d && i + 1 < bytes.length && bytes[i + 1] !== 0x0a) {
      return malformed("version 1 line holds a CR before its end");
    }
  }
  if (end === -1) {
    return bytes.length >= PROXY_V1_MAX_BYTES
      ? malformed(`version 1 line longer than ${PROXY_V1_MAX_BYTES} bytes`)
      : MORE;
  }
  const line = String.fromCharCode(...bytes.subarray(V1_PREFIX.length, end - 2));
  const fields = line.split(" ");
  if (fields[0] === "UNKNOWN") {
    return { kind: "done", consumed: end, version: 1, source: undefined };
  }
  if (fields[0] !== "TCP4" && fields[0] !== "TCP6") {
    return malformed("version 1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (fields.length !== 5) return malformed("version 1 line does not have 4 address fields");
  const family = fields[0] === "TCP4" ? 4 : 16;
  const source = parseIp(fields[1]!);
  const destination = parseIp(fields[2]!);
  // A TCP6 line may carry an IPv4-mapped address (it parses as 4 bytes); TCP4 may not carry IPv6.
  const fits = (text: string, address: Uint8Array | undefined) =>
    address !== undefined && (family === 4 ? !text.includes(":") : text.includes(":"));
  if (!fits(fields[1]!, source) || !fits(fields[2]!, destination)) {
    return malformed(`version 1 addresses are not ${fields[0]} addresses`);
  }
  const port = parsePort(fields[3]!);
  if (port === undefined || parsePort(fields[4]!) === undefined) {
    return malformed("version 1 port is not 0 to 65535");
  }
  return {
    kind: "done",
    consumed: end,
    version: 1,
    source: { hostname: formatIp(source!), port },
  };
}

/** A decimal port without sign or leading zeros, or undefined. */
function parsePort(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

/** Address family (high nibble of byte 13) → bytes its addresses and ports take. */
const V2_ADDRESS_BYTES: Record<number, number> = { 0: 0, 1: 12, 2: 36, 3: 216 };

function parseV2(bytes: Uint8Array): ProxyHeaderResult {
  if (!agrees(bytes, PROXY_V2_SIGNATURE)) return malformed("version 2 signature does not match");
  if (bytes.length < V2_FIXED_BYTES) return MORE;
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return malformed("version 2 header has another version");
  const command = versionCommand & 0x0f;
  if (command > 1) return malformed("version 2 command is neither LOCAL nor PROXY");
  const family = bytes[13]! >> 4;
  const transport = bytes[13]! & 0x0f;
  const addressBytes = V2_ADDRESS_BYTES[family];
  if (addressBytes === undefined || transport > 2) {
    return malformed("version 2 address family or transport is unknown");
  }
  const length = (bytes[14]! << 8) | bytes[15]!;
  if (length > PROXY_V2_MAX_BLOCK_BYTES) {
    return malformed(`version 2 block of ${length} bytes, above ${PROXY_V2_MAX_BLOCK_BYTES}`);
  }
  // LOCAL's block is ignored whatever it holds; PROXY's must hold its family's addresses.
  if (command === 1 && length < addressBytes) {
    return malformed("version 2 length is shorter than its addresses");
  }
  const consumed = V2_FIXED_BYTES + length;
  if (bytes.length < consumed) return MORE;
  if (command === 0 || family === 0 || family === 3) {
    return { kind: "done", consumed, version: 2, source: undefined };
  }
  const start = V2_FIXED_BYTES;
  const size = family === 1 ? 4 : 16;
  const address = bytes.slice(start, start + size);
  const portAt = start + 2 * size;
  const port = (bytes[portAt]! << 8) | bytes[portAt + 1]!;
  return { kind: "done", consumed, version: 2, source: { hostname: formatAddress(address), port } };
}

/** IPv4 dotted; IPv6 canonical, but an IPv4-mapped one as the IPv4 address it is. */
function formatAddress(address: Uint8Array): string {
  const mapped = address.length === 16 &&
    address.subarray(0, 10).every((b) => b === 0) && address[10] === 0xff && address[11] === 0xff;
  return formatIp(mapped ? address.subarray(12) : address);
}
