#!/usr/bin/env bash
# Import benchmark on real music: N files (default 1000) land in a watched folder at once;
# prints how long the daemon takes to analyse and tag them all, then how long a retag takes
# to rewrite their tags alone (no analysis), in the same run.
#
# The files are 30-second excerpts, at evenly spread offsets, of the 46 recordings in two
# Debian packages of freely licensed game music (singularity-music: Ogg Vorbis, CC-BY-SA-3.0;
# warzone2100-music: Opus, GPL-2+), encoded in turn as MP3 (lame -V2), FLAC, Ogg Vorbis
# (oggenc -q4) and Opus (opusenc), once, into .build/import-audio.
#
# Usage: scripts/bench-import.sh [N]   (run `make build` first; downloads the packages once)
# GENRED_PRECISION=bf16 sets the daemon's [analysis] precision (default fp32); its log line
# says what ran (a precision that is not native, or not faster here, falls back to fp32).
# GENRED_BIN=path runs another build (to compare two on the same machine).
set -euo pipefail
n=${1:-1000}
cd "$(dirname "$0")/.."
bin=${GENRED_BIN:-$PWD/.build/release/genred}
[[ -x $bin ]] || { echo "build first: make build" >&2; exit 1; }
set_dir=$(scripts/import-audio.sh "$n")

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/music"
printf '[analysis]\nprecision = "%s"\n[watch]\nsettle_seconds = 2\n' "${GENRED_PRECISION:-fp32}" > "$work/genred.toml"
"$bin" watch --config "$work/genred.toml" --db "$work/state/library.sqlite" "$work/music" 2> "$work/daemon.log" &
pid=$!
until grep -q "rescan done" "$work/daemon.log" 2>/dev/null; do
  kill -0 $pid 2>/dev/null || { echo "the daemon stopped before its first rescan:" >&2; cat "$work/daemon.log" >&2; exit 1; }
  sleep 0.2
done

# Land the files at once: copy them next door, then move the folder in (one rename).
cp -r "$set_dir" "$work/incoming"
rm -f "$work/incoming/.complete"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
mv "$work/incoming" "$work/music/incoming"
status() { "$bin" status --json --db "$work/state/library.sqlite"; }
while true; do
  s=$(status)
  read -r tagged queue failed < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["tagged"], d["queue"], d["failed"])' "$s")
  [[ $((tagged + failed)) -ge $n && $queue -eq 0 ]] && break
  kill -0 $pid 2>/dev/null || { echo "the daemon stopped during the import:" >&2; tail -20 "$work/daemon.log" >&2; exit 1; }
  sleep 0.5
done
end=$(date +%s.%N)
kill -TERM $pid; wait $pid || true
grep -E "precision" "$work/daemon.log" || true
audio=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT SUM(duration) FROM track").fetchone()[0] or 0)' "$work/state/library.sqlite")

# The tags alone, rewritten under other settings: no analysis; each write decodes the file before it (and Ogg and Opus after it).
printf '[tags]\npolicy = "overwrite"\n[tags.genre_map]\nambient = "Ambient (rewritten)"\nelectronic = "Electronic (rewritten)"\n' > "$work/rewrite.toml"
rw_start=$(date +%s.%N)
"$bin" retag --config "$work/rewrite.toml" --db "$work/state/library.sqlite" "$work/music" > "$work/rewrite.out" 2>&1 || true
rw_end=$(date +%s.%N)

cpu=$(lscpu | sed -n 's/^Model name: *//p')
echo "load average before the import: $load_before, after the rewrite: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$n" "$audio" "$start" "$end" "$rw_start" "$rw_end" "$failed" "$cpu" "$(tail -1 "$work/rewrite.out")" "${GENRED_PRECISION:-fp32}" <<'EOF'
import sys
n, audio, s, e, rs, re, failed = int(sys.argv[1]), float(sys.argv[2]), *map(float, sys.argv[3:7]), int(sys.argv[7])
cpu, rewrite, precision = sys.argv[8], sys.argv[9], sys.argv[10]
print(f"CPU                         {cpu}")
print(f"precision asked             {precision}")
print(f"files                       {n} ({audio / 3600:.1f} h of audio), {failed} failed")
print(f"import (analyse + tag)      {e - s:.1f} s  {n / (e - s):.1f} files/s, {audio / (e - s):.0f}x realtime, 2 s settle included")
print(f"tags alone, rewritten       {re - rs:.1f} s  {n / (re - rs):.1f} files/s  ({rewrite})")
EOF
