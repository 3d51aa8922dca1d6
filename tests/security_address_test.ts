/** Client addresses: parsing, local, the per-address key, and the --allow/--deny lists. */
import { assertEquals, assertThrows } from "@std/assert";
import { formatIp, isLocal, parseIp, perAddressKey } from "../lib/security/address.ts";
import { addressAllowed, listMatches, parseAddressList } from "../lib/security/address_list.ts";
import { UsageError } from "../lib/usage_error.ts";

const show = (text: string) => {
  const bytes = parseIp(text);
  return bytes === undefined ? undefined : formatIp(bytes);
};

Deno.test("addresses parse to one canonical form whatever the spelling", () => {
  const cases: Array<[string, string | undefined]> = [
    ["10.0.0.7", "10.0.0.7"],
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["::", "::"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0000:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["fe80::1%eth0", "fe80::1"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["::FFFF:7f00:1", "127.0.0.1"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["1::", "1::"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ];
  for (const [text, expected] of cases) assertEquals(show(text), expected, text);
});

Deno.test("text that is not an address does not parse", () => {
  const bad = [
    "",
    "localhost",
    "256.0.0.1",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "1.2.3.-4",
    ":::",
    "1::2::3",
    ":1::2",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::1",
    "g::1",
    "1.2.3.4::",
    "::1.2.3.4:5",
    "1:2:3:4:5:6:7:1.2.3.4",
  ];
  for (const text of bad) assertEquals(parseIp(text), undefined, text);
});

Deno.test("local is exactly 127.0.0.1 and ::1, also mapped, and nothing else", () => {
  for (const address of ["127.0.0.1", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]) {
    assertEquals(isLocal(address), true, address);
  }
  for (
    const address of ["127.0.0.2", "::ffff:127.0.0.2", "10.0.0.1", "::", "::2", "localhost", ""]
  ) {
    assertEquals(isLocal(address), false, address);
  }
});

Deno.test("--max-per-ip counts IPv4 by address and IPv6 by its /64", () => {
  assertEquals(perAddressKey("192.0.2.7"), "192.0.2.7");
  assertEquals(perAddressKey("::ffff:192.0.2.7"), "192.0.2.7");
  assertEquals(perAddressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assertEquals(perAddressKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
  assertEquals(perAddressKey("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  assertEquals(perAddressKey("2001:0:0:0:ffff::1"), "2001::/64");
  assertEquals(perAddressKey("::1"), "::/64");
  assertEquals(perAddressKey("not-an-ip"), "not-an-ip");
});

const list = (value: string) => parseAddressList(value, "--allow");

/** Each case is `[range, address, whether the address is in the range]`. */
function assertRangeMatches(cases: Array<[string, string, boolean]>): void {
  for (const [range, address, expected] of cases) {
    assertEquals(listMatches(list(range), address), expected, `${address} in ${range}`);
  }
}

Deno.test("IPv4 ranges: /32, /24, odd prefixes and /0", () => {
  assertRangeMatches([
    ["192.0.2.7", "192.0.2.7", true],
    ["192.0.2.7/32", "192.0.2.8", false],
    ["192.0.2.0/24", "192.0.2.255", true],
    ["192.0.2.0/24", "192.0.3.0", false],
    ["10.64.0.0/10", "10.127.255.255", true],
    ["10.64.0.0/10", "10.128.0.0", false],
    ["0.0.0.0/0", "203.0.113.9", true],
    ["0.0.0.0/0", "2001:db8::1", false],
  ]);
});

Deno.test("IPv6 ranges: /128, /64, odd prefixes and /0; mapped addresses are IPv4", () => {
  assertRangeMatches([
    ["2001:db8::1", "2001:db8:0:0::1", true],
    ["2001:db8::1/128", "2001:db8::2", false],
    ["2001:db8:1:2::/64", "2001:db8:1:2:ffff:ffff:ffff:ffff", true],
    ["2001:db8:1:2::/64", "2001:db8:1:3::", false],
    ["2001:db8::/33", "2001:db8:7fff::1", true],
    ["2001:db8::/33", "2001:db8:8000::1", false],
    ["::/0", "fe80::1%eth0", true],
    ["::/0", "10.0.0.1", false],
    ["::/0", "::ffff:10.0.0.1", false],
    ["10.0.0.0/8", "::ffff:10.1.2.3", true],
    ["::ffff:10.0.0.0/104", "10.1.2.3", true],
    ["::ffff:10.0.0.0/104", "11.1.2.3", false],
    ["::ffff:0:0/96", "198.51.100.1", true],
    ["::1", "127.0.0.1", false],
  ]);
});

Deno.test("a list takes comma-separated entries with spaces around them", () => {
  const ranges = list("10.0.0.0/8, 192.0.2.7 ,2001:db8::/32");
  assertEquals(ranges.length, 3);
  for (const address of ["10.9.9.9", "192.0.2.7", "2001:db8:ffff::1"]) {
    assertEquals(listMatches(ranges, address), true, address);
  }
  assertEquals(listMatches(ranges, "192.0.2.8"), false);
});

Deno.test("bad entries are UsageErrors naming the option and the entry", () => {
  const cases: Array<[string, string]> = [
    ["", '--allow entry "" is empty'],
    ["10.0.0.0/8,,10.1.0.0/16", '--allow entry "" is empty'],
    ["10.0.0.0/8,example.com", '--allow entry "example.com" is not an address'],
    ["300.1.1.1", '--allow entry "300.1.1.1" is not an address'],
    ["10.0.0.0/33", '--allow entry "10.0.0.0/33" has a bad prefix length (0 to 32)'],
    ["10.0.0.0/", '--allow entry "10.0.0.0/" has a bad prefix length (0 to 32)'],
    ["10.0.0.0/-1", '--allow entry "10.0.0.0/-1" has a bad prefix length'],
    ["2001:db8::/129", '--allow entry "2001:db8::/129" has a bad prefix length (0 to 128)'],
    [
      "::ffff:10.0.0.0/64",
      '--allow entry "::ffff:10.0.0.0/64" has a bad prefix length (96 to 128)',
    ],
    [
      "10.0.0.1/8",
      '--allow entry "10.0.0.1/8" has bits set after its /8 prefix (did you mean 10.0.0.0/8?)',
    ],
    ["2001:db8::1/32", "has bits set after its /32 prefix (did you mean 2001:db8::/32?)"],
    ["fe80::1%eth0", '--allow entry "fe80::1%eth0" is not an address'],
  ];
  for (const [value, message] of cases) {
    assertThrows(() => list(value), UsageError, message);
  }
  assertThrows(
    () => parseAddressList(Array(1025).fill("10.0.0.1").join(","), "--deny"),
    UsageError,
    "--deny takes at most 1024 entries: received 1025",
  );
});

Deno.test("deny wins over allow; an empty allow list allows all, a non-empty one only matches", () => {
  const none = { allow: [], deny: [] };
  assertEquals(addressAllowed(none, "203.0.113.9"), true);
  const denyOnly = { allow: [], deny: list("203.0.113.0/24") };
  assertEquals(addressAllowed(denyOnly, "203.0.113.9"), false);
  assertEquals(addressAllowed(denyOnly, "198.51.100.1"), true);
  const both = {
    allow: list("10.0.0.0/8,2001:db8::/32"),
    deny: list("10.0.0.66,2001:db8:bad::/48"),
  };
  assertEquals(addressAllowed(both, "10.1.1.1"), true);
  assertEquals(addressAllowed(both, "::ffff:10.1.1.1"), true);
  assertEquals(addressAllowed(both, "10.0.0.66"), false, "deny wins");
  assertEquals(addressAllowed(both, "2001:db8::5"), true);
  assertEquals(addressAllowed(both, "2001:db8:bad::5"), false, "deny wins");
  assertEquals(addressAllowed(both, "192.168.1.1"), false, "not in allow");
  assertEquals(addressAllowed(both, "not-an-ip"), false, "matches nothing in allow");
  assertEquals(addressAllowed(denyOnly, "not-an-ip"), true, "matches nothing in deny");
});
