/**
 * Reading Linux's /proc from the tests. Deno asks for --allow-all before it
 * reads /proc (a process's fd table or another's memory is not a plain
 * file), and `deno task test` grants --allow-run but not --allow-all, so a
 * child process (cat, ls, ps) reads it for us.
 */

const decoder = new TextDecoder();

/** What `cmd args` printed; throws with its stderr if it failed. */
function outputOf(cmd: string, args: string[]): string {
  const result = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!result.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${decoder.decode(result.stderr).trim()}`);
  }
  return decoder.decode(result.stdout);
}

/** A /proc file as text. */
export function readProc(path: string): string {
  return outputOf("cat", [path]);
}

/** How many descriptors process `pid` holds now. */
export function openDescriptors(pid: number): number {
  return outputOf("ls", [`/proc/${pid}/fd`]).split("\n").filter((name) => name !== "").length;
}
