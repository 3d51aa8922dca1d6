/**
 * The per-address counts of `--max-per-ip`, in the admission state's shared
 * memory (shared_admission.ts gives this table its region and guards every
 * call with its lock). An open-addressing hash table with linear probing:
 * slots of {kind, high word, low word, count}. An IPv4 address, or the /64
 * of an IPv6 one (perAddressKey), is exactly 64 bits, so keys are exact;
 * anything else is two 32-bit hashes. A per-process random seed keeps a
 * client from aiming its addresses at one long probe chain, and deletion
 * shifts entries back, so no tombstones pile up.
 */
import { parseIp, perAddressKey } from "../../security/address.ts";

// The region's own header: 2 cells, then the slots.
/** Entries in use; written under the admission lock. */
const USED = 0;
/** The hash seed; written once, when the state is created. */
const SEED = 1;
const REGION_HEADER = 2;

// Per slot.
const IP_CELLS = 4;
/** 0 empty, 1 IPv4, 2 IPv6 /64, 3 anything else (hashed). */
const IP_KIND = 0;
const IP_HIGH = 1;
const IP_LOW = 2;
const IP_COUNT = 3;
/** Most slots (16 MiB of address space); past 3/4 of them a newcomer is refused. */
const MAX_SLOTS = 1 << 20;

/** Running + queued connections per address, in shared memory. */
export class AddressTable {
  readonly #cells: Int32Array;
  /** Index of the region's header; the slots start REGION_HEADER cells after it. */
  readonly #region: number;
  readonly #base: number;
  readonly #slots: number;

  /** Over `cells` from index `base`, with `slots` slots (a power of two). */
  constructor(cells: Int32Array, region: { base: number; slots: number }) {
    this.#cells = cells;
    this.#region = region.base;
    this.#base = region.base + REGION_HEADER;
    this.#slots = region.slots;
  }

  /** Slots for `connections` at most (twice as many, a power of two, capped); 16 at least. */
  static slotsFor(connections: number): number {
    let slots = 16;
    while (slots < 2 * connections && slots < MAX_SLOTS) slots *= 2;
    return slots;
  }

  /** Int32 cells a table of `slots` slots takes (0 for none). */
  static cellsFor(slots: number): number {
    return slots === 0 ? 0 : REGION_HEADER + slots * IP_CELLS;
  }

  /** Picks the hash seed (once, when the state is created). */
  seed(): void {
    this.#cells[this.#region + SEED] = crypto.getRandomValues(new Int32Array(1))[0]!;
  }

  /** Counts one more connection from `address`; false if it already has `max` (or the table is full). */
  count(address: string, max: number): boolean {
    const [kind, high, low] = addressWords(address);
    const slot = this.#findSlot(kind, high, low);
    const c = this.#cells;
    const at = this.#base + slot * IP_CELLS;
    if (c[at + IP_KIND] === 0) {
      // A full table would make every probe long; refusing is the bounded answer.
      if (c[this.#region + USED]! >= (this.#slots * 3) / 4) return false;
      c[at + IP_KIND] = kind;
      c[at + IP_HIGH] = high;
      c[at + IP_LOW] = low;
      c[this.#region + USED]!++;
    } else if (c[at + IP_COUNT]! >= max) return false;
    c[at + IP_COUNT]!++;
    return true;
  }

  /** Counts one connection from `address` out; the entry goes when its count is 0. */
  uncount(address: string): void {
    const c = this.#cells;
    const [kind, high, low] = addressWords(address);
    const slot = this.#findSlot(kind, high, low);
    const at = this.#base + slot * IP_CELLS;
    if (c[at + IP_KIND] === 0) return;
    if (--c[at + IP_COUNT]! > 0) return;
    this.#removeSlot(slot);
  }

  /** Linear probing: the slot holding the key, or the empty slot where it would go. */
  #findSlot(kind: number, high: number, low: number): number {
    const c = this.#cells;
    const mask = this.#slots - 1;
    for (let slot = this.#home(kind, high, low);; slot = (slot + 1) & mask) {
      const at = this.#base + slot * IP_CELLS;
      if (c[at + IP_KIND] === 0) return slot;
      if (c[at + IP_KIND] === kind && c[at + IP_HIGH] === high && c[at + IP_LOW] === low) {
        return slot;
      }
    }
  }

  #home(kind: number, high: number, low: number): number {
    let h = Math.imul(high ^ this.#cells[this.#region + SEED]!, 0x85ebca6b) ^
      Math.imul(low, 0xc2b2ae35) ^ kind;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    return (h ^ (h >>> 16)) & (this.#slots - 1);
  }

  /** Backward-shift deletion: later entries of the probe chain move up, so no tombstones pile up. */
  #removeSlot(slot: number): void {
    const c = this.#cells;
    const mask = this.#slots - 1;
    let hole = slot;
    for (let next = (hole + 1) & mask;; next = (next + 1) & mask) {
      const at = this.#base + next * IP_CELLS;
      if (c[at + IP_KIND] === 0) break;
      const home = this.#home(c[at + IP_KIND]!, c[at + IP_HIGH]!, c[at + IP_LOW]!);
      // The entry at `next` may fill the hole only if its home is not between them.
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      const to = this.#base + hole * IP_CELLS;
      for (let i = 0; i < IP_CELLS; i++) c[to + i] = c[at + i]!;
      hole = next;
    }
    const at = this.#base + hole * IP_CELLS;
    for (let i = 0; i < IP_CELLS; i++) c[at + i] = 0;
    c[this.#region + USED]!--;
  }
}

/**
 * The per-address key (perAddressKey: an IPv4 address, or an IPv6 /64) as
 * {kind, high, low}: exact for addresses, two hashes for anything else.
 */
function addressWords(address: string): [number, number, number] {
  const key = perAddressKey(address);
  const v4 = parseIp(key);
  if (v4 !== undefined && v4.length === 4) return [1, word(v4, 0), 0];
  if (key.endsWith("/64")) {
    const v6 = parseIp(key.slice(0, -3));
    if (v6 !== undefined && v6.length === 16) return [2, word(v6, 0), word(v6, 4)];
  }
  return [3, fnv(key, 0x811c9dc5), fnv(key, 0x01000193)];
}

function word(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
}

function fnv(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}
