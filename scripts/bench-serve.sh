#!/usr/bin/env bash
# Server benchmark: latency of `GET /api/tracks/ID/similar?count=10` and of a path of 25
# (`GET /api/path?from=A&to=B&count=25`) over a made-up library of N analysed tracks
# (default 100,000; random 200-d embeddings), measured by wrk on loopback with one
# connection, so each figure is one request's time. Random ids, seeded.
# Usage: scripts/bench-serve.sh [N] [SECONDS]   (builds nothing: run `make build` first)
set -euo pipefail
n=${1:-100000}
seconds=${2:-20}
cd "$(dirname "$0")/.."
bin=${GENRED_BIN:-$PWD/.build/release/genred}
[[ -x $bin ]] || { echo "build first: make build" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && { kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; }; rm -rf "$work"' EXIT

echo "cpu:   $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores online"
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before the run"
"$bin" bench make-library "$n" --db "$work/library.sqlite"

"$bin" serve --db "$work/library.sqlite" --listen 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
pid=$!
for _ in $(seq 1 600); do grep -q '^listening on' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$work/serve.out")
[[ -n $url ]] || { cat "$work/serve.err" >&2; exit 1; }
echo "server: $(cat "$work/serve.out")"
echo "rss:   $(ps -o rss= -p $pid | awk '{printf "%.0f MB", $1 / 1024}') after loading"

cat > "$work/similar.lua" <<LUA
math.randomseed(1)
request = function()
  return wrk.format("GET", "/api/tracks/" .. math.random(1, $n) .. "/similar?count=10")
end
LUA
cat > "$work/path.lua" <<LUA
math.randomseed(2)
request = function()
  local from, to = math.random(1, $n), math.random(1, $n)
  if from == to then to = (to % $n) + 1 end
  return wrk.format("GET", "/api/path?from=" .. from .. "&to=" .. to .. "&count=25")
end
LUA

# One answer each first, checked, so the figures are of correct answers.
curl -sf "$url/api/tracks/1/similar?count=10" | python3 -c 'import json,sys; m=json.load(sys.stdin)["matches"]; assert len(m) == 10'
curl -sf "$url/api/path?from=1&to=2&count=25" | python3 -c 'import json,sys; m=json.load(sys.stdin)["matches"]; assert len(m) == 25 and len({x["track"]["id"] for x in m}) == 25'

run() {  # name, script, target in ms
  local out median p99 requests
  out=$(wrk -t1 -c1 -d"${seconds}s" --latency -s "$2" "$url" 2>&1)
  median=$(awk '$1 == "50%" {print $2}' <<< "$out")
  p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
  requests=$(awk '/requests in/ {print $1}' <<< "$out")
  errors=$(awk '/Non-2xx/ {print $NF}' <<< "$out")
  python3 - "$1" "$median" "$p99" "$requests" "$3" "${errors:-0}" <<'PY'
import re, sys
name, median, p99, requests, target, errors = sys.argv[1:]
def ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
m, p = ms(median), ms(p99)
verdict = "met" if p < float(target) else "MISSED"
print(f"{name:12} median {m:7.1f} ms   p99 {p:7.1f} ms   ({requests} requests, {errors} errors)   target < {target} ms: {verdict}")
PY
}
echo "latency over $n tracks, one connection, ${seconds} s each:"
run "similar" "$work/similar.lua" 50
run "path of 25" "$work/path.lua" 200
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) after the run"
