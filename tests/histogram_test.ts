/** The bench histogram: percentiles close to the exact order statistics, merging threads. */
import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import { Histogram } from "../lib/bench/histogram.ts";

function exact(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

Deno.test("histogram percentiles are within one bucket (1/64) of the exact value", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5_000_000_000 }), { minLength: 1, maxLength: 500 }),
      fc.constantFrom(0.5, 0.9, 0.99, 0.999, 1),
      (values, q) => {
        const h = new Histogram();
        for (const v of values) h.record(v);
        const truth = exact([...values].sort((a, b) => a - b), q);
        const got = h.quantile(q);
        assert(
          Math.abs(got - truth) <= Math.max(1, truth / 64),
          `q=${q}: histogram ${got}, exact ${truth}`,
        );
        assertEquals(h.total, values.length);
        assertEquals(h.max, Math.max(...values));
      },
    ),
  );
});

Deno.test("histograms from several threads merge into the histogram of all samples", () => {
  const a = new Histogram();
  const b = new Histogram();
  const all = new Histogram();
  for (let i = 0; i < 1000; i++) {
    const v = (i * 7919) % 100_000;
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  // As a worker posts it: only the counts travel.
  const merged = new Histogram(a.counts.slice());
  merged.merge(new Histogram(b.counts.slice()));
  assertEquals(merged.total, 1000);
  for (const q of [0.5, 0.9, 0.99]) assertEquals(merged.quantile(q), all.quantile(q));
});

Deno.test("an empty histogram reports zeros", () => {
  const h = new Histogram();
  assertEquals([h.total, h.max, h.quantile(0.99)], [0, 0, 0]);
});
