/**
 * Users files for tests (docs/security.md `--users`): lines `<name> <role> <hash>`
 * with real scrypt hashes, written at test time with mode 0600, as
 * `switchboard-server passwd` writes them.
 */
import { hashPassword } from "../lib/security/password_hash.ts";
import type { Role } from "../lib/security/roles.ts";

/** One user to write: name, role and the password its hash is made from. */
export interface TestUser {
  name: string;
  role: Role;
  password: string;
}

/** The users every AUTH test shares. */
export const ADA: TestUser = { name: "ada", role: "write", password: "correct horse" };
export const BOB: TestUser = { name: "bob", role: "read", password: "battery staple" };

/** Writes `users` to `path` (mode 0600), replacing the file. */
export async function writeUsers(path: string, users: readonly TestUser[]): Promise<void> {
  const lines = ["# written by tests/users_fixtures.ts"];
  for (const user of users) {
    lines.push(`${user.name} ${user.role} ${await hashPassword(user.password)}`);
  }
  await Deno.writeTextFile(path, lines.join("\n") + "\n", { mode: 0o600 });
  // writeTextFile's mode applies only when it creates the file.
  await Deno.chmod(path, 0o600);
}

/** The AUTH request line for `user` (the password quoted: it has a space). */
export function authLine(user: TestUser, password = user.password): string {
  return `AUTH ${user.name} "${password}"`;
}
