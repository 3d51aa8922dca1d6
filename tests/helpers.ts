/**
 * Everything the tests share, in one import: the server subprocess
 * (test_server.ts), the protocol client (test_client.ts), programs run to
 * their end (processes.ts), waits with deadlines (deadlines.ts), STATS
 * (stats.ts) and test data (test_data.ts). Each file owns one of these.
 */
export { metricsBase, runServerToExit, SERVER_PERMISSIONS, TestServer } from "./test_server.ts";
export {
  assertStartsWith,
  render,
  REPLY_TIMEOUT_MS,
  TestClient,
  type TestConn,
} from "./test_client.ts";
export { CLIENT_PERMISSIONS, clientArgs, repoPath, run, RUN_TIMEOUT_MS } from "./processes.ts";
export { eventually, within } from "./deadlines.ts";
export { parseStats, STAT_KEYS, type StatsRecord } from "./stats.ts";
export { concat, filesIn, populateKv, randomBytes, sha256, tempDir } from "./test_data.ts";
