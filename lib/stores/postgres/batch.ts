/**
 * Many clients' KV calls as one statement (docs/several-servers.md#the-shared-store).
 *
 * Each connection sends one request at a time, so the calls waiting here
 * come from different clients and are concurrent: any order among them is
 * one the clients could have seen. Gathering them pays PostgreSQL's
 * per-statement cost and, for writes, its commit (the WAL's fsync) once
 * per batch instead of once per call; 50 clients SETting one key otherwise
 * wait in line for its row lock, one fsync each.
 */

/** One call waiting for its batch. */
interface Waiting<In, Out> {
  input: In;
  resolve: (output: Out) => void;
  reject: (error: unknown) => void;
}

/** Runs one batch: an answer (or an Error, for that call alone) per input, in order. */
export type BatchRunner<In, Out> = (inputs: In[]) => Promise<(Out | Error)[]>;

/**
 * Gathers the calls made while `inFlight` batches are running into the
 * next batch, of at most `most` calls. A batch that throws rejects all of
 * its calls with that error.
 */
export class Batcher<In, Out> {
  readonly #run: BatchRunner<In, Out>;
  readonly #most: number;
  readonly #inFlight: number;
  #waiting: Waiting<In, Out>[] = [];
  #running = 0;

  constructor(run: BatchRunner<In, Out>, options: { most: number; inFlight: number }) {
    this.#run = run;
    this.#most = options.most;
    this.#inFlight = options.inFlight;
  }

  /** Resolves with this input's answer once its batch is done. */
  submit(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      this.#next();
    });
  }

  #next(): void {
    if (this.#running >= this.#inFlight || this.#waiting.length === 0) return;
    const batch = this.#waiting.splice(0, this.#most);
    this.#running++;
    this.#run(batch.map((call) => call.input)).then(
      (outputs) =>
        batch.forEach((call, i) => {
          const output = outputs[i];
          if (output instanceof Error) call.reject(output);
          else call.resolve(output as Out);
        }),
      (error) => batch.forEach((call) => call.reject(error)),
    ).finally(() => {
      this.#running--;
      this.#next();
    });
  }
}
