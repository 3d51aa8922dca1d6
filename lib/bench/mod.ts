/**
 * `switchboard-client bench`, a load generator in the spirit of
 * redis-benchmark (issue 7, docs/performance.md): what the client entry imports.
 * options.ts parses, run.ts drives worker.ts threads, report.ts prints.
 */
export { BENCH_USAGE, type BenchOptions, parseBenchArgs } from "./load_options.ts";
export { type BenchResult, runBench } from "./run.ts";
export { benchJson, benchReport } from "./load_report.ts";
