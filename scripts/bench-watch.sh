#!/usr/bin/env bash
# Daemon benchmark: how long `genred watch` takes to analyse and tag N files that land at
# once (default 1000 copies of the 2-second test clip), then its idle CPU and memory.
# Usage: scripts/bench-watch.sh [N] [IDLE_SECONDS]   (builds nothing: run `make build` first)
set -euo pipefail
n=${1:-1000}
idle=${2:-30}
cd "$(dirname "$0")/.."
bin=$PWD/.build/release/genred
[[ -x $bin ]] || { echo "build first: make build" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/music" "$work/incoming"
printf '[watch]\nsettle_seconds = 2\n' > "$work/genred.toml"
clip=Tests/GenredKitTests/Fixtures/audio/short.wav

"$bin" watch --config "$work/genred.toml" --db "$work/state/library.sqlite" "$work/music" 2> "$work/daemon.log" &
pid=$!
until grep -q "rescan done" "$work/daemon.log" 2>/dev/null; do sleep 0.2; done

# Land the files at once: copy them next door, then move the folder in (one rename).
for i in $(seq 1 "$n"); do
  d=$work/incoming/album$((i % 50))
  mkdir -p "$d"
  cp "$clip" "$d/track$i.wav"
done
start=$(date +%s.%N)
mv "$work/incoming" "$work/music/incoming"

status() { "$bin" status --json --db "$work/state/library.sqlite"; }
while true; do
  s=$(status)
  tagged=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tagged"])' "$s")
  queue=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["queue"])' "$s")
  [[ $tagged -ge $n && $queue -eq 0 ]] && break
  sleep 0.5
done
end=$(date +%s.%N)
settled=$(python3 -c "print(f'{$end - $start:.1f}')")
audio=$(python3 -c "print(f'{$n * 2.0:.0f}')")

# Idle: CPU time used over IDLE_SECONDS with nothing to do, and resident memory.
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14 + $15}' /proc/$pid/stat)
sleep "$idle"
cpu1=$(awk '{print $14 + $15}' /proc/$pid/stat)
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)

echo "files landed at once     $n (${audio} s of audio)"
echo "settled (all tagged)     ${settled} s  ($(python3 -c "print(f'{$n / ($end - $start):.1f}')") files/s, including the 2 s settle window)"
echo "idle CPU over ${idle} s      $(python3 -c "print(f'{100 * ($cpu1 - $cpu0) / $ticks / $idle:.2f}')") % of one core"
echo "memory                   RSS $((rss / 1024)) MiB idle, peak $((hwm / 1024)) MiB"
