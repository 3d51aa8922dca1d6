/**
 * PROXY protocol headers as a balancer writes them (docs/server.md#behind-a-load-balancer),
 * for tests that play HAProxy or nginx: version 1 text and version 2 binary,
 * with optional TLVs.
 */
import { parseIp } from "../lib/security/address.ts";
import { PROXY_V2_SIGNATURE } from "../lib/protocol/proxy_header.ts";
import { concat } from "./helpers.ts";

/** One end of a proxied connection. */
export interface Endpoint {
  hostname: string;
  port: number;
}

/** `PROXY TCP4 …\r\n` (or TCP6, from the source's family). */
export function proxyV1(source: Endpoint, destination: Endpoint): Uint8Array {
  const family = source.hostname.includes(":") ? "TCP6" : "TCP4";
  return new TextEncoder().encode(
    `PROXY ${family} ${source.hostname} ${destination.hostname} ${source.port} ${destination.port}\r\n`,
  );
}

/** Options of {@linkcode proxyV2}. */
export interface ProxyV2Options {
  /** LOCAL (a balancer's health check) instead of PROXY. */
  local?: boolean;
  /** Bytes appended after the addresses, inside the length (TLVs). */
  tlvs?: Uint8Array;
}

/** A version 2 header naming `source`, or a LOCAL one when `source` is undefined. */
export function proxyV2(
  source: Endpoint | undefined,
  destination: Endpoint = { hostname: "127.0.0.1", port: 12000 },
  options: ProxyV2Options = {},
): Uint8Array {
  const tlvs = options.tlvs ?? new Uint8Array(0);
  if (source === undefined || options.local) {
    const block = tlvs;
    return concat(
      PROXY_V2_SIGNATURE,
      new Uint8Array([0x20, 0x00, block.length >> 8, block.length & 0xff]),
      block,
    );
  }
  const from = parseIp(source.hostname)!;
  const to = parseIp(destination.hostname)!;
  const v6 = source.hostname.includes(":");
  const widen = (address: Uint8Array) =>
    v6 && address.length === 4
      ? concat(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]), address)
      : address;
  const ports = new Uint8Array([
    source.port >> 8,
    source.port & 0xff,
    destination.port >> 8,
    destination.port & 0xff,
  ]);
  const block = concat(widen(from), widen(to), ports, tlvs);
  return concat(
    PROXY_V2_SIGNATURE,
    new Uint8Array([0x21, v6 ? 0x21 : 0x11, block.length >> 8, block.length & 0xff]),
    block,
  );
}
