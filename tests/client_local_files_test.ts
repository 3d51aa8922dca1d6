/** Local paths (from INIT_CWD, `~`) and the one-line local file errors of docs/client.md. */
import { assertEquals } from "@std/assert";
import { inside, localFileError } from "../lib/client/local_files.ts";
import { localPath } from "../lib/paths.ts";
import { tempDir } from "./helpers.ts";

Deno.test("local paths start where the user ran the command (INIT_CWD), ~ at home", () => {
  const base = { cwd: "/home/ada/project/sub", home: "/home/ada" };
  assertEquals(localPath("notes.txt", base), {
    typed: "notes.txt",
    resolved: "/home/ada/project/sub/notes.txt",
  });
  assertEquals(localPath("../x", base).resolved, "/home/ada/project/x");
  assertEquals(localPath("/etc/hosts", base).resolved, "/etc/hosts");
  assertEquals(localPath("~/photo.jpg", base).resolved, "/home/ada/photo.jpg");
  assertEquals(localPath("~", base).resolved, "/home/ada");
  assertEquals(localPath("~bob/x", base).resolved, "/home/ada/project/sub/~bob/x");
  // Without INIT_CWD, the process's own directory: the path stays as typed.
  assertEquals(localPath("notes.txt"), { typed: "notes.txt", resolved: "notes.txt" });
  assertEquals(inside(localPath("out/", base), "a.bin"), {
    typed: "out/a.bin",
    resolved: "/home/ada/project/sub/out/a.bin",
  });
});

Deno.test("local file errors are one line naming the path and the reason", async () => {
  await using dir = await tempDir();
  const missing = await Deno.readFile(`${dir.path}/missing`).catch((e) => e);
  assertEquals(localFileError("missing", missing).message, "missing: no such file or directory");
  const directory = await Deno.writeFile(dir.path, new Uint8Array(1)).catch((e) => e);
  assertEquals(localFileError("dir", directory).message, "dir: is a directory");
  assertEquals(
    localFileError("x", new Deno.errors.PermissionDenied("Permission denied (os error 13)"))
      .message,
    "x: permission denied",
  );
  assertEquals(
    localFileError("x", new Error("Some new trouble (os error 99): write 'x'")).message,
    "x: Some new trouble",
  );
});

Deno.test("a full disk is named as such, though Deno has no error class for it", () => {
  // What Deno throws for ENOSPC (Linux) and ERROR_DISK_FULL (Windows): a plain Error.
  for (
    const text of [
      "No space left on device (os error 28)",
      "There is not enough space on the disk. (os error 112)",
    ]
  ) {
    assertEquals(
      localFileError("big.bin", new Error(text)).message,
      "big.bin: no space left on device",
    );
  }
});
