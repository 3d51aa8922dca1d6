/**
 * The hub's answers to the network threads' service requests
 * (thread_messages.ts, remote_services.ts): one KV store, one job pool with
 * one budget, one hash cache and one AUTH throttle for the whole process,
 * as with a single thread.
 *
 * Why here and not in every thread: one Deno KV handle per database.
 * Measured with two handles on one database in one process, 400 concurrent
 * check-and-set INCRs split between them: commits failed with "database is
 * locked" (and across processes increments were lost, kv_store.ts). COUNT's
 * budget and the fairness between requests are the pool's, and a throttle
 * or a cache split N ways would let a guesser try N times as often and hash
 * a file N times.
 */
import { JobsCancelledError } from "../jobs/pool.ts";
import type { ServerServices } from "./services.ts";
import type { Gathering } from "./hub_gathering.ts";
import type { Stats } from "./observability/stats.ts";
import {
  carryError,
  type GatherAnswer,
  type ServiceAnswer,
  type ServiceCall,
} from "./thread_messages.ts";

/**
 * Answers one thread's requests on `port` with `services` (opened); AUTH
 * failures count in `stats`. The thread's answers to the hub's own
 * questions (WHO, STATS) come back on the same port, to `onGathered`.
 */
export function answerThread(
  port: MessagePort,
  services: ServerServices,
  options: {
    stats: Stats;
    gathering: Pick<Gathering, "sessions" | "counters">;
    onGathered: (answer: GatherAnswer) => void;
  },
): void {
  const auth = services.authService(options.stats);
  /** Job batches of this thread still running, by request id, to cancel them. */
  const batches = new Map<number, AbortController>();
  const reply = (answer: ServiceAnswer, transfer: Transferable[] = []) =>
    port.postMessage(answer, transfer);
  const answer = async (call: ServiceCall): Promise<unknown> => {
    switch (call.op) {
      case "kv.get":
        return await services.kv.get(call.key);
      case "kv.set":
        return await services.kv.set(call.key, call.value);
      case "kv.delete":
        return await services.kv.delete(call.key);
      case "kv.increment":
        return await services.kv.increment(call.key, call.by);
      case "kv.count":
        return await services.kv.countKeys(call.prefix, call.upTo);
      case "kv.keys": {
        const keys: string[] = [];
        await services.kv.eachKey(call.prefix, { after: call.after, limit: call.limit }, (key) => {
          keys.push(key);
        });
        return keys;
      }
      case "jobs": {
        const controller = new AbortController();
        batches.set(call.id, controller);
        try {
          return await services.workers.runBatch(call.total, () => call.job, {
            cost: call.cost,
            signal: controller.signal,
            onResult: call.streamResults
              ? (result, index, worker) => reply({ id: call.id, result, index, worker })
              : undefined,
          });
        } finally {
          batches.delete(call.id);
        }
      }
      case "cancel":
        batches.get(call.of)?.abort(new JobsCancelledError("cancelled"));
        return undefined;
      case "hashes.sha256":
        return await services.hashes.sha256(call.path, call.identity);
      case "hashes.remember":
        return services.hashes.remember(call.path, call.identity, call.sha256);
      case "list":
        if (services.files === undefined) throw new Error("FILE LIST through the hub with --store");
        return await services.files.listing();
      case "auth":
        if (auth === undefined) throw new Error("AUTH without --users");
        return await auth.authenticate(call.address, call.name, call.password);
      case "sessions":
        return await options.gathering.sessions();
      case "counters":
        return await options.gathering.counters();
      case "store.down":
        return services.noticeStoreDown();
    }
  };
  port.onmessage = (event: MessageEvent<ServiceCall | GatherAnswer>) => {
    if (!("op" in event.data)) return options.onGathered(event.data);
    const call = event.data;
    answer(call).then(
      (value) => reply({ id: call.id, ok: true, value }),
      (error) => reply({ id: call.id, ok: false, error: carryError(error) }),
    );
  };
}
