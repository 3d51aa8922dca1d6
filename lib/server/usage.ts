/** The server's usage text (`--help`) and the hint after a usage error, in one place. */
import {
  DEFAULT_BACKLOG,
  DEFAULT_DATA_DIR,
  DEFAULT_DRAIN_TIMEOUT_S,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT_S,
  DEFAULT_MAX_FILE_SIZE,
  DEFAULT_MAX_LINE,
  DEFAULT_MAX_PER_IP,
  DEFAULT_MAX_RUNNING,
  DEFAULT_MIN_RATE,
  DEFAULT_PORT,
  DEFAULT_QUEUE_LIMIT,
  DEFAULT_QUEUE_TIMEOUT_S,
  DEFAULT_REQUEST_TIMEOUT_S,
  DEFAULT_ROOT_DIR,
  defaultWorkers,
} from "../defaults.ts";
import { defaultThreads } from "./door/reuse_port.ts";

/** The line after a usage error's own (the whole help would bury the one line that matters). */
export const SERVER_USAGE_HINT =
  "usage: switchboard-server [PORT [MAX_RUNNING]] [options] (--help lists the options)";

/** The server's usage text (`--help`). */
export const SERVER_USAGE = `usage: switchboard-server [PORT [MAX_RUNNING]] [options]
       switchboard-server passwd FILE NAME ROLE   add or change a user of --users FILE (ROLE read or write)

A concurrent line-protocol TCP server: at most MAX_RUNNING clients are served
at once, the rest wait in a FIFO queue. Try it: nc 127.0.0.1 ${DEFAULT_PORT}, then HELP.

options:
  --host H              address to bind (default ${DEFAULT_HOST}; 0.0.0.0 or :: to expose)
  --port P              TCP port, 0 picks a free one (default ${DEFAULT_PORT})
  --max-running N       clients served at once (default ${DEFAULT_MAX_RUNNING})
  --queue-limit Q       clients allowed to wait; beyond it ERR busy (default ${DEFAULT_QUEUE_LIMIT})
  --queue-timeout S     seconds a client may wait, 0 = forever (default ${DEFAULT_QUEUE_TIMEOUT_S})
  --idle-timeout S      seconds a running client may stay silent, 0 = forever (default ${DEFAULT_IDLE_TIMEOUT_S})
  --max-per-ip N        running + queued connections per address, 0 = no limit (default ${DEFAULT_MAX_PER_IP})
  --max-line BYTES      longest request line (default ${DEFAULT_MAX_LINE})
  --request-timeout S   a request line must be whole S s after its first byte, 0 = never (default ${DEFAULT_REQUEST_TIMEOUT_S})
  --min-rate BYTES      uploads and downloads must move this many bytes/s over each
                        --request-timeout window, 0 = no floor (default ${DEFAULT_MIN_RATE})
  --root DIR            directory served by the FILE commands (default ${DEFAULT_ROOT_DIR})
  --max-file-size BYTES largest FILE PUT (default ${DEFAULT_MAX_FILE_SIZE})
  --data DIR            where the KV store keeps its database (default ${DEFAULT_DATA_DIR})
  --store URL           postgres://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE: KV and FILE in that
                        database, shared by every server given it (password also from PGPASSWORD)
  --workers N           worker threads for COUNT jobs and file hashes (default: CPU count, here ${defaultWorkers()})
  --threads N           network threads, each accepting on the port; one Manager for all
                        (default: CPU count on Linux, here ${defaultThreads()})
  --echo                raw mode: every admitted connection is a byte-for-byte echo
  --metrics-port P      serve Prometheus /metrics and /healthz over HTTP on ${DEFAULT_HOST}:P
                        (or ADDRESS:P for another address; 0 picks a free port)
  --users FILE          users, roles and password hashes: every client must AUTH first
  --allow CIDRS         only these comma-separated addresses or ranges may connect
  --deny CIDRS          these addresses or ranges may not connect (deny wins over --allow)
  --insecure            turn protected mode off: without --users, serve clients that are
                        not on this machine too
  --tls-cert FILE       PEM certificate chain: with --tls-key, the port speaks TLS only
  --tls-key FILE        PEM private key of --tls-cert
  --proxy-protocol CIDRS  connections from these balancers begin with a PROXY header
                        (v1 or v2, as HAProxy's send-proxy-v2) naming the real client
  --backlog N           connections the kernel keeps waiting for accept (default ${DEFAULT_BACKLOG};
                        capped by the OS, on Linux at net.core.somaxconn)
  --drain-timeout S     on shutdown, seconds running clients get to finish (default ${DEFAULT_DRAIN_TIMEOUT_S})
  -v, --verbose         log every request
  -q, --quiet           log nothing
  --log-format F        text or json (default text), on stderr
  -h, --help            show this help
  --version             show the version

Ctrl-C (SIGINT) or SIGTERM drains and exits 0; a second signal exits 130.
SIGHUP re-reads --users and the TLS certificate and key.`;
