/**
 * What a person sees when the server cannot start the way they asked
 * (docs/server.md#usage-errors): a usage error is one line naming the
 * problem and one pointing at --help, exit 2; a path it cannot use is one
 * line naming the path and the cause, exit 1.
 */
import { assertEquals } from "@std/assert";
import {
  filesIn,
  repoPath,
  run,
  runServerToExit,
  SERVER_PERMISSIONS,
  tempDir,
  TestClient,
  TestServer,
} from "./helpers.ts";
import { unprivileged } from "./client_helpers.ts";
import { SERVER_ENV_PERMISSION, SERVER_RUN_FLAGS } from "../lib/server/environment.ts";
import { EXECUTABLES } from "../scripts/build.ts";
import project from "../deno.json" with { type: "json" };

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

/** Runs the server (with the task's permissions) to its end, under `wrap`, with `env` added. */
function runServer(
  args: string[],
  options: { wrap?: string[]; env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const wrap = options.wrap ?? [];
  const command = [...wrap, Deno.execPath(), "run", ...SERVER_PERMISSIONS, repoPath("server.ts")];
  return run(command[0]!, [...command.slice(1), ...args], options.stdin, options);
}

Deno.test("a --root or --data the server cannot use is one line naming the path and the cause", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/afile`;
  await Deno.writeTextFile(file, "x");
  const locked = `${dir.path}/locked`;
  await Deno.mkdir(locked, { mode: 0o555 });
  await Deno.chmod(locked, 0o555);
  const wrap = await unprivileged();
  const cases: Array<[string[], string]> = [
    [["--root", file], `--root "${file}": is a file, not a directory`],
    [["--data", file], `--data "${file}": is a file, not a directory`],
    [
      ["--root", `${file}/sub`],
      `--root "${file}/sub": cannot be created: a part of the path is not a directory`,
    ],
    [
      ["--root", `${locked}/files`],
      `--root "${locked}/files": cannot be created: permission denied (this user may not write its parent)`,
    ],
    [
      ["--data", locked],
      `--data "${locked}": is not writable: permission denied (this user may not create files in it)`,
    ],
  ];
  for (const [args, line] of cases) {
    const defaults = [
      ...(args[0] === "--root" ? [] : ["--root", `${dir.path}/files`]),
      ...(args[0] === "--data" ? [] : ["--data", `${dir.path}/data`]),
    ];
    const result = await runServer(["--port", "0", ...defaults, ...args], { wrap });
    assertEquals({ code: result.code, stderr: result.stderr }, {
      code: 1,
      stderr: `error: ${line}\n`,
    }, args.join(" "));
  }
  assertEquals(await filesIn(locked), []);
});

Deno.test("a --users or --tls-* file the server cannot read is one line naming it and the cause", async () => {
  await using dir = await tempDir();
  const unreadable = `${dir.path}/users.txt`;
  await Deno.writeTextFile(unreadable, "");
  await Deno.chmod(unreadable, 0o000);
  const missing = `${dir.path}/nope.txt`;
  const wrap = await unprivileged();
  const cases: Array<[string[], string]> = [
    [["--users", dir.path], `users file "${dir.path}": is a directory`],
    [["--users", unreadable], `users file "${unreadable}": permission denied`],
    [["--users", missing], `users file "${missing}": no such file`],
    [["--tls-cert", dir.path, "--tls-key", missing], `--tls-cert "${dir.path}": is a directory`],
    [
      ["--tls-cert", unreadable, "--tls-key", missing],
      `--tls-cert "${unreadable}": permission denied`,
    ],
  ];
  for (const [args, line] of cases) {
    const common = ["--port", "0", "--root", `${dir.path}/files`, "--data", `${dir.path}/data`];
    const result = await runServer([...common, ...args], { wrap });
    assertEquals({ code: result.code, stderr: result.stderr }, {
      code: 1,
      stderr: `error: ${line}\n`,
    }, args.join(" "));
  }
});

Deno.test("under deno task the server's relative paths start where the user ran it (INIT_CWD)", async () => {
  await using dir = await tempDir();
  const env = { INIT_CWD: dir.path };
  const made = await run(
    Deno.execPath(),
    [
      "run",
      ...SERVER_PERMISSIONS,
      repoPath("server.ts"),
      "passwd",
      "users.txt",
      "ada",
      "write",
    ],
    "correct horse\n",
    { env, cwd: repoPath(".") },
  );
  assertEquals({ code: made.code, stdout: made.stdout, stderr: made.stderr }, {
    code: 0,
    stdout: "",
    stderr: "",
  });
  await using server = await TestServer.start(
    ["--root", "served", "--data", "kv", "--users", "users.txt"],
    { env, dir: dir.path },
  );
  await using client = await TestClient.connect(server.port);
  assertEquals(await client.ask('AUTH ada "correct horse"'), "OK welcome ada write");
  assertEquals(await filesIn(dir.path), ["kv", "served", "users.txt"]);
});

Deno.test("the server task and executable may read exactly the variables the server reads", () => {
  const task = project.tasks.server.split(" ");
  assertEquals(task.filter((flag) => flag.startsWith("--allow-env")), [SERVER_ENV_PERMISSION]);
  // The task runs with the flags everything else starts the server with.
  assertEquals(task.slice(task.indexOf("--no-prompt") + 1, -1), [...SERVER_RUN_FLAGS]);
  const executable = EXECUTABLES.find((exe) => exe.entry === "server.ts")!;
  assertEquals(
    executable.permissions.filter((flag) => flag.startsWith("--allow-env")),
    [SERVER_ENV_PERMISSION],
  );
});
