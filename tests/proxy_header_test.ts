/** The PROXY header parser (docs/server.md#behind-a-load-balancer): examples, then properties over random, truncated and split headers. */
import { assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  parseProxyHeader,
  PROXY_MAX_HEADER_BYTES,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_MAX_BLOCK_BYTES,
  PROXY_V2_SIGNATURE,
  type ProxyHeaderResult,
} from "../lib/protocol/proxy_header.ts";
import { formatIp } from "../lib/security/address.ts";
import { concat } from "./helpers.ts";
import { proxyV1, proxyV2 } from "./proxy_headers.ts";

const encoder = new TextEncoder();
const text = (s: string) => encoder.encode(s);
const destination = { hostname: "10.0.0.1", port: 12000 };

Deno.test("PROXY v1 TCP4 names the client and consumes the line only", () => {
  const header = text("PROXY TCP4 192.0.2.7 10.0.0.1 51234 12000\r\n");
  assertEquals(parseProxyHeader(concat(header, text("PING\n"))), {
    kind: "done",
    consumed: header.length,
    version: 1,
    source: { hostname: "192.0.2.7", port: 51234 },
  });
});

Deno.test("PROXY v1 TCP6 names the client in canonical form", () => {
  const result = parseProxyHeader(text("PROXY TCP6 2001:DB8:0:0::7 ::1 1 2\r\n"));
  assertEquals(result.kind === "done" && result.source, { hostname: "2001:db8::7", port: 1 });
});

Deno.test("PROXY v1 UNKNOWN keeps the connection's own address", () => {
  for (const line of ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 0 0\r\n"]) {
    assertEquals(parseProxyHeader(text(line)), {
      kind: "done",
      consumed: line.length,
      version: 1,
      source: undefined,
    });
  }
});

Deno.test("PROXY v1 lines that break the format are malformed", () => {
  for (
    const line of [
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", // LF without CR
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", // a field missing
      "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", // two spaces
      "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", // IPv6 in TCP4
      "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", // IPv4 in TCP6
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", // port out of range
      "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", // leading zero
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n",
      "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PING\n",
    ]
  ) {
    assertEquals(parseProxyHeader(text(line)).kind, "malformed", JSON.stringify(line));
  }
});

Deno.test("PROXY v1 without CRLF in 107 bytes is malformed; before that it wants more", () => {
  const long = "PROXY UNKNOWN " + "x".repeat(200);
  assertEquals(parseProxyHeader(text(long.slice(0, PROXY_V1_MAX_BYTES - 1))).kind, "more");
  assertEquals(parseProxyHeader(text(long.slice(0, PROXY_V1_MAX_BYTES))).kind, "malformed");
  const exact = "PROXY UNKNOWN " + "x".repeat(PROXY_V1_MAX_BYTES - 16) + "\r\n";
  assertEquals(exact.length, PROXY_V1_MAX_BYTES);
  assertEquals(parseProxyHeader(text(exact)).kind, "done");
});

Deno.test("PROXY v2 PROXY names an IPv4 or IPv6 client and skips TLVs", () => {
  const tlvs = new Uint8Array([0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x00]);
  const v4 = proxyV2({ hostname: "198.51.100.9", port: 40000 }, destination, { tlvs });
  assertEquals(parseProxyHeader(concat(v4, text("PING\n"))), {
    kind: "done",
    consumed: v4.length,
    version: 2,
    source: { hostname: "198.51.100.9", port: 40000 },
  });
  const v6 = proxyV2({ hostname: "2001:db8::1", port: 65535 }, { hostname: "::1", port: 1 });
  const result = parseProxyHeader(v6);
  assertEquals(result.kind === "done" && result.source, { hostname: "2001:db8::1", port: 65535 });
});

Deno.test("PROXY v2 with an IPv4-mapped IPv6 address names the IPv4 client", () => {
  const header = proxyV2({ hostname: "::ffff:203.0.113.5", port: 7 }, { hostname: "::1", port: 1 });
  const result = parseProxyHeader(header);
  assertEquals(result.kind === "done" && result.source, { hostname: "203.0.113.5", port: 7 });
});

Deno.test("PROXY v2 LOCAL, UNSPEC and UNIX keep the connection's own address", () => {
  const local = proxyV2(undefined);
  assertEquals(parseProxyHeader(local), {
    kind: "done",
    consumed: 16,
    version: 2,
    source: undefined,
  });
  const unix = concat(
    PROXY_V2_SIGNATURE,
    new Uint8Array([0x21, 0x31, 0, 216]),
    new Uint8Array(216),
  );
  assertEquals(parseProxyHeader(unix), {
    kind: "done",
    consumed: 232,
    version: 2,
    source: undefined,
  });
  const unspec = concat(PROXY_V2_SIGNATURE, new Uint8Array([0x21, 0x00, 0, 0]));
  assertEquals(parseProxyHeader(unspec).kind, "done");
});

Deno.test("PROXY v2 with a length shorter than its addresses is malformed", () => {
  const header = proxyV2({ hostname: "2001:db8::1", port: 1 }, { hostname: "::1", port: 1 });
  header[15] = 12; // an IPv6 header claiming IPv4's block length
  assertEquals(parseProxyHeader(header).kind, "malformed");
});

Deno.test("PROXY v2 with another version, command, family or an oversized block is malformed", () => {
  const good = proxyV2({ hostname: "192.0.2.1", port: 1 });
  const spoil = (at: number, value: number) => {
    const copy = good.slice();
    copy[at] = value;
    return parseProxyHeader(copy).kind;
  };
  assertEquals(spoil(12, 0x11), "malformed"); // version 1 in a v2 header
  assertEquals(spoil(12, 0x22), "malformed"); // command 2
  assertEquals(spoil(13, 0x41), "malformed"); // family 4
  assertEquals(spoil(13, 0x13), "malformed"); // transport 3
  assertEquals(spoil(5, 0x00), "malformed"); // signature
  const huge = PROXY_V2_MAX_BLOCK_BYTES + 1;
  assertEquals(spoil(14, huge >> 8), "malformed");
});

/** Any header the test encoders can write: v1 or v2, IPv4 or IPv6, LOCAL, with TLVs. */
const header = fc.oneof(
  fc.record({
    v6: fc.boolean(),
    address: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    port: fc.integer({ min: 0, max: 65535 }),
    version: fc.constantFrom(1, 2),
    tlvs: fc.uint8Array({ maxLength: 300 }),
  }).map(({ v6, address, port, version, tlvs }) => {
    const hostname = formatIp(v6 ? address : address.subarray(0, 4));
    const source = { hostname, port };
    const to = v6 ? { hostname: "::1", port: 1 } : destination;
    const expected = parseProxyHeader(proxyV1(source, to));
    const bytes = version === 1 ? proxyV1(source, to) : proxyV2(source, to, { tlvs });
    return { bytes, expected: expected.kind === "done" ? expected.source : undefined };
  }),
  fc.uint8Array({ maxLength: 100 }).map((tlvs) => ({
    bytes: proxyV2(undefined, destination, { tlvs }),
    expected: undefined,
  })),
);

Deno.test("property: a valid header followed by anything parses to its length; every prefix wants more", () => {
  fc.assert(
    fc.property(header, fc.uint8Array({ maxLength: 64 }), ({ bytes, expected }, after) => {
      const result = parseProxyHeader(concat(bytes, after));
      assertEquals(result.kind, "done");
      if (result.kind !== "done") return;
      assertEquals(result.consumed, bytes.length);
      assertEquals(result.source?.hostname, expected?.hostname);
      for (let n = 0; n < bytes.length; n++) {
        assertEquals(parseProxyHeader(bytes.subarray(0, n)).kind, "more", `prefix of ${n}`);
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: a header fed in random pieces gives the same answer as whole", () => {
  fc.assert(
    fc.property(header, fc.array(fc.nat(), { maxLength: 20 }), ({ bytes }, cuts) => {
      // As the door does it: the bytes so far, asked again after each read.
      const whole = parseProxyHeader(bytes);
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      let last: ProxyHeaderResult = { kind: "more" };
      for (const point of [...points, bytes.length]) {
        last = parseProxyHeader(bytes.subarray(0, point));
        if (last.kind !== "more") break;
      }
      assertEquals(last, whole);
    }),
  );
});

Deno.test("property: random bytes never throw, and a verdict never changes as bytes arrive", () => {
  const signatureStart = fc.constantFrom(
    new Uint8Array(0),
    PROXY_V2_SIGNATURE,
    text("PROXY "),
    text("PROXY TCP4 "),
  );
  fc.assert(
    fc.property(signatureStart, fc.uint8Array({ maxLength: 400 }), (start, noise) => {
      const bytes = concat(start, noise);
      let verdict: ProxyHeaderResult | undefined;
      for (let n = 0; n <= bytes.length; n++) {
        const result = parseProxyHeader(bytes.subarray(0, n));
        if (verdict !== undefined) {
          // Once decided, more bytes change nothing (they are the client's).
          assertEquals(result, verdict);
        } else if (result.kind !== "more") {
          verdict = result;
        }
        if (result.kind === "more") assertEquals(n < PROXY_MAX_HEADER_BYTES, true);
      }
    }),
    { numRuns: 300 },
  );
});
