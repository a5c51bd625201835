#!/usr/bin/env bash
# Worker benchmark on real music: N files (default 200; scripts/import-audio.sh) queued in a
# PostgreSQL store with `genred enqueue`, then analysed by 1, 2 and 4 `genred worker`s
# (--jobs 1 each), each run on a fresh database. Prints per run the wall time, throughput
# and the store time per job (claiming it and storing its result, as the workers measure it),
# and, for comparison in the same run, one worker on a SQLite store on this machine.
#
# Each worker runs in a network namespace of its own and reaches the server over a veth link
# and TCP, as a worker on another machine would (needs root and `ip`; otherwise the workers
# use the server's Unix socket and the script says so). The namespaces share this machine's
# cores: with C cores, more than C workers cannot be faster, and the figures say how far the
# queue itself stays out of the way.
#
# Then the queue alone, without analysis (`genred bench queue`): 1000 made-up jobs, each
# stored with one real analysis, by 1, 2 and 4 clients (threads with a connection each, from
# one namespace over TCP), on PostgreSQL and on SQLite: the store time per job when the
# cores are not busy analysing.
#
# Usage: scripts/bench-workers.sh [N]   (run `make build` first)
set -euo pipefail
n=${1:-200}
cd "$(dirname "$0")/.."
bin=$PWD/.build/release/genred
[[ -x $bin ]] || { echo "build first: make build" >&2; exit 1; }
set_dir=$(scripts/import-audio.sh "$n")
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /tmp/genred-bench-workers.XXXX)
export GENRED_PG_DIR=$work/pg GENRED_PG_PORT=54330
namespaces=()
cleanup() {
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; ip link del "v$ns" 2>/dev/null || true; done
  scripts/pg-test-server.sh stop || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"

# The server: the tests' private one, here also listening on TCP for the namespaces.
scripts/pg-test-server.sh start >/dev/null
use_netns=0
if [[ $(id -u) -eq 0 ]] && command -v ip >/dev/null && ip netns add gbw-probe 2>/dev/null; then
  ip netns del gbw-probe
  use_netns=1
  for k in 1 2 3 4; do
    ns=gbw$k
    ip netns add "$ns"
    namespaces+=("$ns")
    ip link add "v$ns" type veth peer name eth0 netns "$ns"
    ip addr add "10.78.$k.1/24" dev "v$ns"
    ip link set "v$ns" up
    ip netns exec "$ns" ip addr add "10.78.$k.2/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip link set lo up
  done
  echo "host all all 10.78.0.0/16 trust" >> "$GENRED_PG_DIR/data/pg_hba.conf"
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$GENRED_PG_DIR/data" -w restart \
    -o "-c listen_addresses='*' -c unix_socket_directories='$GENRED_PG_DIR' -p $GENRED_PG_PORT -c max_connections=200" >/dev/null
else
  echo "note: no network namespaces here (needs root and ip): the workers use the Unix socket"
fi

cp -r "$set_dir" "$work/music"
rm -f "$work/music/.complete"
chmod -R a+rX "$work/music"
# The URL by which a worker in namespace K reaches the database of test-server URL $2, over TCP.
tcp_url() { echo "postgresql://postgres@10.78.$1.1:$GENRED_PG_PORT/$(sed -E 's|^postgresql://[^/]*/([^?]*).*|\1|' <<<"$2")"; }
audio_of() { psql -X -At "$1" -c "SELECT COALESCE(SUM(duration), 0) FROM track"; }

run() {  # run WORKERS STORE-KIND
  local workers=$1 kind=$2 url
  if [[ $kind == sqlite ]]; then url=$work/sqlite-$workers/library.sqlite; else url=$(scripts/pg-test-server.sh newdb); fi
  "$bin" enqueue --store "$url" "$work/music" >/dev/null
  local start end pids=()
  start=$(date +%s.%N)
  for k in $(seq 1 "$workers"); do
    local worker_url=$url
    local prefix=()
    if [[ $kind == postgres && $use_netns == 1 ]]; then
      worker_url=$(tcp_url "$k" "$url")
      prefix=(ip netns exec "gbw$k")
    fi
    "${prefix[@]}" "$bin" worker --store "$worker_url" --jobs 1 --until-empty --quiet --name "w$k" \
      2> "$work/w$kind-$workers-$k.log" &
    pids+=($!)
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  end=$(date +%s.%N)
  [[ $failed == 0 ]] || { echo "a worker failed:"; cat "$work"/w$kind-$workers-*.log; exit 1; }
  # Each worker's summary line ends with "store X ms per job".
  local store_ms
  store_ms=$(cat "$work"/w$kind-$workers-*.log | awk '/ms per job/ { for (i = 1; i <= NF; i++) if ($i == "store") { s += $(i+1); c++ } } END { printf "%.2f", c ? s / c : 0 }')
  local done audio
  done=$(cat "$work"/w$kind-$workers-*.log | awk '/ analysed, / { s += $1 } END { print s + 0 }')
  if [[ $kind == postgres ]]; then audio=$(audio_of "$url"); else
    audio=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT SUM(duration) FROM track").fetchone()[0] or 0)' "$url"); fi
  python3 - "$kind" "$workers" "$done" "$audio" "$start" "$end" "$store_ms" <<'PY'
import sys
kind, workers, done, audio, s, e, store = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
t = e - s
print(f"{kind:8} {workers} worker(s)  {done:5d} files  {t:7.1f} s  {done / t:6.2f} files/s  {audio / t:5.0f}x realtime  store {store:5.2f} ms per job")
PY
}

cpu=$(lscpu | sed -n 's/^Model name: *//p')
echo "CPU: $cpu, $(nproc) cores; $n files (30-second excerpts of real music); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run 1 sqlite
for w in 1 2 4; do run "$w" postgres; done

sample=$(find "$work/music" -type f | sort | head -1)
echo "== the queue alone, PostgreSQL$([[ $use_netns == 1 ]] && echo " over TCP from a namespace")"
url=$(scripts/pg-test-server.sh newdb)
if [[ $use_netns == 1 ]]; then
  ip netns exec gbw1 "$bin" bench queue 1000 --store "$(tcp_url 1 "$url")" "$sample"
else
  "$bin" bench queue 1000 --store "$url" "$sample"
fi
echo "== the queue alone, SQLite"
"$bin" bench queue 1000 --store "$work/queue.sqlite" "$sample"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
