/**
 * A latency histogram for the load generator: exact below 128 ns, then 64
 * sub-buckets per power of two (each at most 1/64 ≈ 1.6 % wide), so a
 * percentile read from it is within about 0.8 % of the exact order
 * statistic, in constant memory whatever the number of samples. Histograms
 * from several worker threads merge by adding their counts.
 */

const EXACT = 128;
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
/** Values up to 2^42 ns (about 73 minutes); longer ones land in the last bucket. */
const MAX_EXPONENT = 42;
const SIZE = EXACT + (MAX_EXPONENT - SUB_BITS - 1) * SUB;

/** Percentiles the reports print. */
export const PERCENTILES = [0.5, 0.9, 0.99, 0.999] as const;

/** Counts of durations in nanoseconds. */
export class Histogram {
  readonly counts: Float64Array;
  total = 0;
  max = 0;

  constructor(counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(SIZE);
    if (counts) {
      for (let i = 0; i < counts.length; i++) {
        if (counts[i]! > 0) {
          this.total += counts[i]!;
          this.max = upperBound(i);
        }
      }
    }
  }

  /** Adds one duration (nanoseconds; negative counts as 0). */
  record(ns: number): void {
    const v = ns > 0 ? Math.round(ns) : 0;
    this.counts[indexOf(v)]!++;
    this.total++;
    if (v > this.max) this.max = v;
  }

  /** Adds every sample of `other`. */
  merge(other: Histogram): void {
    for (let i = 0; i < SIZE; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    if (other.max > this.max) this.max = other.max;
  }

  /** The value at quantile `q` (0..1], in ns: the midpoint of the bucket holding that rank; 0 if empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(midpoint(i), this.max);
    }
    return this.max;
  }
}

function indexOf(v: number): number {
  if (v < EXACT) return v;
  const exponent = Math.min(Math.floor(Math.log2(v)), MAX_EXPONENT - 1);
  const shift = 2 ** (exponent - SUB_BITS);
  const sub = Math.min(Math.floor(v / shift) - SUB, SUB - 1);
  return EXACT + (exponent - SUB_BITS - 1) * SUB + sub;
}

function lowerBound(index: number): number {
  if (index < EXACT) return index;
  const exponent = Math.floor((index - EXACT) / SUB) + SUB_BITS + 1;
  const sub = (index - EXACT) % SUB;
  return (SUB + sub) * 2 ** (exponent - SUB_BITS);
}

function upperBound(index: number): number {
  return index < EXACT ? index : lowerBound(index + 1) - 1;
}

function midpoint(index: number): number {
  return index < EXACT ? index : (lowerBound(index) + upperBound(index)) / 2;
}
