/**
 * `switchboard-client bench`, a load generator in the spirit of
 * redis-benchmark (docs/performance.md): what the client entry imports.
 * load_options.ts parses, run.ts drives worker.ts threads, load_report.ts prints.
 */
export { BENCH_USAGE, type BenchOptions, parseBenchArgs } from "./load_options.ts";
export { type BenchResult, runBench } from "./run.ts";
export { benchJson, benchReport } from "./load_report.ts";
