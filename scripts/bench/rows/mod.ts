/**
 * The rows of `deno task bench`, in the order of the table. Adding a
 * scenario is adding one module under rows/ that exports a BenchRow and
 * one entry here; --only, the usage text and --compare follow from it.
 */
import type { BenchRow } from "../row.ts";
import { S1, S6 } from "./throughput.ts";
import { S4 } from "./first_reply.ts";
import { GAP, GAPT } from "./admission_gap.ts";
import { S3 } from "./churn.ts";
import { FILE } from "./file.ts";
import { IDLE } from "./idle.ts";
import { HOLD } from "./hold.ts";
import { COUNT } from "./count.ts";
import { HASH } from "./hash.ts";
import { COUNTFAIR } from "./count_fairness.ts";
import { SLOWLORIS } from "./slowloris.ts";
import { KVKEYS } from "./kv_keys.ts";
import { LIST } from "./file_list.ts";
import { FAULTS } from "./faults.ts";
import { TLS } from "./tls.ts";
import { TLSPEERS } from "./tls_peers.ts";
import { AUTH } from "./auth.ts";
import { PGFILE, PGKV } from "./postgres.ts";
import { LIVE, LIVEQ } from "./live_view.ts";
import { HAPROXY } from "./haproxy.ts";
import { IDLET, S1T, S6T } from "./threads.ts";

/** Every row, in table order. */
export const ROWS: readonly BenchRow[] = [
  S1,
  S6,
  S4,
  GAP,
  S3,
  FILE,
  IDLE,
  HOLD,
  COUNT,
  HASH,
  COUNTFAIR,
  SLOWLORIS,
  KVKEYS,
  LIST,
  FAULTS,
  TLS,
  TLSPEERS,
  AUTH,
  PGKV,
  PGFILE,
  LIVE,
  LIVEQ,
  HAPROXY,
  S1T,
  S6T,
  GAPT,
  IDLET,
];
