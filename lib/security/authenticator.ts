/**
 * AUTH's decision (docs/security.md): is this name and password a user, and may this
 * address try at all. The users can be replaced while the server runs
 * (SIGHUP); a connection that has authenticated keeps the User it got.
 *
 * A wrong name and a wrong password cost the same: for a name that is not a
 * user, the password is verified against a dummy hash with the users'
 * parameters, and the answer is the same `wrong`. Otherwise the reply time
 * would tell a guesser which names exist.
 */
import { AuthThrottle } from "./auth_throttle.ts";
import { HashQueue } from "./hash_queue.ts";
import { type PasswordHash, unmatchableHash, verifyPassword } from "./password_hash.ts";
import type { User, Users } from "./users_file.ts";

/** What AUTH answers: the user, a wrong name or password, or a refusal to check. */
export type AuthResult =
  | { ok: true; user: User }
  | { ok: false; reason: "wrong" }
  | { ok: false; reason: "throttled"; retryAfterS: number };

/** The `denied` message for a wrong name or a wrong password, the same for both. */
export const WRONG_CREDENTIALS = "wrong name or password";

/** The `denied` message for an address over the failure limit. */
export function throttledMessage(retryAfterS: number): string {
  return `too many failed attempts; retry in ${retryAfterS} s`;
}

/**
 * Hashes that run at once. Each scrypt holds 128·N·r bytes (16 MiB at the
 * default) on a thread of its own, so without a bound `--max-running`
 * clients sending AUTH together would cost that many times 16 MiB and every
 * core. Half the cores keeps the other half serving; the rest wait in line
 * (hash_queue.ts: addresses with fewer failures first), which costs a wrong
 * name and a wrong password the same wait.
 */
export function defaultHashSlots(): number {
  return Math.max(1, Math.floor((navigator.hardwareConcurrency || 1) / 2));
}

/** Options of {@linkcode Authenticator}. */
export interface AuthenticatorOptions {
  /** Default: a throttle with the documented limits (docs/protocol.md#auth). */
  throttle?: AuthThrottle;
  /** Verifications at once; default {@linkcode defaultHashSlots}. */
  hashSlots?: number;
  /** The verifier; default scrypt (tests count the calls). */
  verify?: (password: string, hash: PasswordHash) => Promise<boolean>;
}

/** Checks AUTH requests against the current users. */
export class Authenticator {
  #users: Users;
  #dummy: PasswordHash;
  readonly #throttle: AuthThrottle;
  readonly #slots: HashQueue;
  readonly #verify: (password: string, hash: PasswordHash) => Promise<boolean>;

  constructor(users: Users, options: AuthenticatorOptions = {}) {
    this.#users = users;
    this.#dummy = dummyHash(users);
    this.#throttle = options.throttle ?? new AuthThrottle();
    const throttle = this.#throttle;
    this.#slots = new HashQueue(
      options.hashSlots ?? defaultHashSlots(),
      (address) => throttle.failures(address),
    );
    this.#verify = options.verify ?? verifyPassword;
  }

  /** The users now in force. */
  get users(): Users {
    return this.#users;
  }

  /** Puts new users in force (a reload); AUTHs already checking finish against the old ones. */
  replaceUsers(users: Users): void {
    this.#users = users;
    this.#dummy = dummyHash(users);
  }

  /** Checks `name` and `password` for a client at `address`, counting a failure against it. */
  async authenticate(address: string, name: string, password: string): Promise<AuthResult> {
    const refused = this.#throttled(address, name);
    if (refused) return refused;
    return await this.#slots.run(address, async () => {
      // Asked again now that a slot is ours: AUTHs that waited in line
      // behind failures from their own address are refused here, so a
      // burst of connections gets at most the slots' worth of extra tries.
      const refusedNow = this.#throttled(address, name);
      if (refusedNow) return refusedNow;
      const user = this.#users.get(name);
      const matches = await this.#verify(password, user?.hash ?? this.#dummy);
      if (user !== undefined && matches) return { ok: true, user };
      this.#throttle.recordFailure(address, name);
      return { ok: false, reason: "wrong" };
    });
  }

  #throttled(address: string, name: string): AuthResult | undefined {
    const retryAfterS = this.#throttle.retryAfterS(address, name);
    return retryAfterS === undefined ? undefined : { ok: false, reason: "throttled", retryAfterS };
  }
}

/**
 * The dummy for unknown names: in a users file written by passwd every hash
 * has the same parameters; in one that mixes them, the first user's are used.
 */
function dummyHash(users: Users): PasswordHash {
  const first = users.values().next();
  return unmatchableHash(first.done ? undefined : first.value.hash);
}
