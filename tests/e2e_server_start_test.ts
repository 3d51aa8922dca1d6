/**
 * What a person sees when the server cannot start the way they asked
 * (docs/server.md#usage-errors): a usage error is one line naming the
 * problem and one pointing at --help, exit 2; a path it cannot use is one
 * line naming the path and the cause, exit 1.
 */
import { assertEquals } from "@std/assert";
import { runServerToExit } from "./helpers.ts";

const HINT = "usage: switchboard-server [PORT [MAX_RUNNING]] [options] (--help lists the options)";

Deno.test("server usage errors are one line and a pointer at --help, never the whole help", async () => {
  const cases: Array<[string[], string]> = [
    [["-p", "13130"], "error: unknown option -p (did you mean --port?)"],
    [["--prot", "13130"], "error: unknown option --prot (did you mean --port?)"],
    [
      ["--max-running", "-1"],
      'error: --max-running must be an integer from 1 to 1000000: received "-1"',
    ],
    [["--bogus"], "error: unknown option --bogus"],
  ];
  for (const [args, line] of cases) {
    const result = await runServerToExit(args);
    assertEquals(
      { code: result.code, stdout: result.stdout, stderr: result.stderr },
      { code: 2, stdout: "", stderr: `${line}\n${HINT}\n` },
      args.join(" "),
    );
  }
});
