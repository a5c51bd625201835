#!/usr/bin/env bash
# A private PostgreSQL server for the tests and benchmarks: Debian's postgresql, a cluster of
# its own in DIR (default /tmp/genred-pg), reachable only through a Unix socket in DIR.
#
#   scripts/pg-test-server.sh start   starts it if it is not running; prints its base URL
#   scripts/pg-test-server.sh stop    stops it
#   scripts/pg-test-server.sh restart stops it (fast: sessions are cut) and starts it again
#   scripts/pg-test-server.sh url     prints the base URL
#   scripts/pg-test-server.sh newdb   starts it if needed, makes an empty database, prints its URL
#
# The URL names the superuser `postgres` and the database `postgres`; tests make their own
# databases. As root, the server runs as the `postgres` user (PostgreSQL refuses root).
set -euo pipefail
dir=${GENRED_PG_DIR:-/tmp/genred-pg}
port=${GENRED_PG_PORT:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
url="postgresql://postgres@/postgres?host=$dir&port=$port"

run() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
  url) echo "$url" ;;
  stop)
    [[ -f "$dir/data/postmaster.pid" ]] && run "$bin/pg_ctl" -D "$dir/data" -m fast -w stop </dev/null >/dev/null 2>&1 || true
    ;;
  restart)
    "$0" stop
    exec "$0" start
    ;;
  start)
    if [[ -z "$bin" ]]; then echo "PostgreSQL is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; fi
    if [[ -f "$dir/data/postmaster.pid" ]] && run "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      echo "$url"; exit 0
    fi
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      run "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # Only a socket, no TCP; fsync stays on: the tests kill processes, not the machine, but
    # the figures of the benchmark should be those of a real server.
    # The server must not hold this script's output open, nor any other descriptor its caller
    # let it inherit: a caller reading a pipe to its end would wait forever.
    for fd in $(ls /proc/$$/fd); do
      [[ $fd -gt 2 && $fd -ne 255 ]] && eval "exec $fd>&-"
    done
    run "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port -c max_connections=200" start \
      </dev/null >"$dir/pg_ctl.log" 2>&1 \
      || { cat "$dir/pg_ctl.log" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
    echo "$url"
    ;;
  newdb)
    "$0" start >/dev/null
    name="genred_test_$(date +%s%N)_$RANDOM"
    "$bin/psql" -q -X -h "$dir" -p "$port" -U postgres -d postgres -c "CREATE DATABASE $name" >/dev/null
    echo "postgresql://postgres@/$name?host=$dir&port=$port"
    ;;
  *) echo "usage: $0 start|stop|restart|url|newdb" >&2; exit 2 ;;
esac
