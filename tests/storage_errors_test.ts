/** Storage failures get honest codes (docs/protocol.md#commands): no-space, unavailable; anything else stays a bug. */
import { assertEquals } from "@std/assert";
import { storageReply } from "../lib/server/connection/storage_errors.ts";

/** An error as Deno reports a failed system call: a message and an errno name. */
function systemError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

Deno.test("a full disk is ERR no-space, a server out of descriptors or storage ERR unavailable", () => {
  // What Deno throws on a full disk (checked by hand on a small tmpfs: the
  // test cannot write /dev/full, which Deno grants only to --allow-all).
  const full = systemError("ENOSPC", "No space left on device (os error 28)");
  for (
    const error of [
      full,
      systemError("EDQUOT", "Disk quota exceeded"),
      new Error("database or disk is full"),
    ]
  ) {
    assertEquals(storageReply(error)?.kind, "err");
    assertEquals((storageReply(error) as { code: string }).code, "no-space", String(error));
  }
  for (
    const code of [
      "EMFILE",
      "ENFILE",
      "EROFS",
      "EACCES",
      "EPERM",
      "ENOMEM",
      "EIO",
      "ENOENT",
      "ENOTDIR",
    ]
  ) {
    assertEquals(
      (storageReply(systemError(code, code)) as { code: string }).code,
      "unavailable",
      code,
    );
  }
  assertEquals(
    (storageReply(new Error("unable to open database file")) as { code: string }).code,
    "unavailable",
  );
  assertEquals(storageReply(new TypeError("undefined is not a function")), undefined);
  assertEquals(storageReply("not even an Error"), undefined);
});
