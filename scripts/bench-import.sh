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
set -euo pipefail
n=${1:-1000}
cd "$(dirname "$0")/.."
bin=$PWD/.build/release/genred
[[ -x $bin ]] || { echo "build first: make build" >&2; exit 1; }
set_dir=.build/import-audio/n$n

if [[ ! -f $set_dir/.complete ]]; then
  root=.build/fault-audio/root
  if [[ ! -d $root ]]; then
    mkdir -p .build/fault-audio/debs
    (cd .build/fault-audio/debs && { apt-get download singularity-music warzone2100-music 2>/dev/null ||
      { ${SUDO:-$([[ $(id -u) -eq 0 ]] || echo sudo)} apt-get update -qq && apt-get download singularity-music warzone2100-music; }; })
    mkdir -p "$root.tmp"
    for deb in .build/fault-audio/debs/*.deb; do dpkg-deb -x "$deb" "$root.tmp"; done
    mv "$root.tmp" "$root"
  fi
  mapfile -d '' sources < <(find "$root" \( -name '*.ogg' -o -name '*.opus' \) -print0 | sort -z)
  echo "making $n excerpts from ${#sources[@]} recordings in $set_dir ..." >&2
  rm -rf "$set_dir"
  mkdir -p "$set_dir"
  # Each recording is decoded to WAV once (sox reads Ogg Vorbis but not Opus: opusdec does
  # those); the excerpts are cut from the WAVs.
  wavs=$set_dir.wav
  rm -rf "$wavs"
  mkdir -p "$wavs"
  for k in "${!sources[@]}"; do printf '%s\0%s\0' "${sources[$k]}" "$wavs/$k.wav"; done |
    xargs -0 -n 2 -P "$(nproc)" bash -c 'case $0 in *.opus) opusdec --quiet "$0" "$1" ;; *) sox "$0" "$1" ;; esac'
  make_one() {
    local i=$1 full=$2 dir=$3
    local len offset wav out
    wav=$(mktemp --suffix=.wav)
    len=$(soxi -D "$full" | cut -d. -f1)
    offset=$(( (i * 37) % (len > 40 ? len - 35 : 1) ))
    sox "$full" "$wav" trim "$offset" 30
    out=$dir/album$((i % 50))/track$i
    mkdir -p "$(dirname "$out")"
    case $((i % 4)) in
      0) lame --quiet -V2 "$wav" "$out.mp3" ;;
      1) flac --silent -f -o "$out.flac" "$wav" ;;
      2) oggenc --quiet -q4 -o "$out.ogg" "$wav" ;;
      3) opusenc --quiet "$wav" "$out.opus" ;;
    esac
    rm -f "$wav"
  }
  export -f make_one
  for i in $(seq 1 "$n"); do
    printf '%s\0%s\0%s\0' "$i" "$wavs/$(( i % ${#sources[@]} )).wav" "$set_dir"
  done | xargs -0 -n 3 -P "$(nproc)" bash -c 'make_one "$@"' _
  rm -rf "$wavs"
  touch "$set_dir/.complete"
fi

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/music"
printf '[watch]\nsettle_seconds = 2\n' > "$work/genred.toml"
"$bin" watch --config "$work/genred.toml" --db "$work/state/library.sqlite" "$work/music" 2> "$work/daemon.log" &
pid=$!
until grep -q "rescan done" "$work/daemon.log" 2>/dev/null; do sleep 0.2; done

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
  sleep 0.5
done
end=$(date +%s.%N)
kill -TERM $pid; wait $pid || true
audio=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT SUM(duration) FROM track").fetchone()[0] or 0)' "$work/state/library.sqlite")

# The tags alone, rewritten under other settings: no analysis, the before and after decodes.
printf '[tags]\npolicy = "overwrite"\n[tags.genre_map]\nambient = "Ambient (rewritten)"\nelectronic = "Electronic (rewritten)"\n' > "$work/rewrite.toml"
rw_start=$(date +%s.%N)
"$bin" retag --config "$work/rewrite.toml" --db "$work/state/library.sqlite" "$work/music" > "$work/rewrite.out" 2>&1 || true
rw_end=$(date +%s.%N)

cpu=$(lscpu | sed -n 's/^Model name: *//p')
echo "load average before the import: $load_before, after the rewrite: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$n" "$audio" "$start" "$end" "$rw_start" "$rw_end" "$failed" "$cpu" "$(tail -1 "$work/rewrite.out")" <<'EOF'
import sys
n, audio, s, e, rs, re, failed = int(sys.argv[1]), float(sys.argv[2]), *map(float, sys.argv[3:7]), int(sys.argv[7])
cpu, rewrite = sys.argv[8], sys.argv[9]
print(f"CPU                         {cpu}")
print(f"files                       {n} ({audio / 3600:.1f} h of audio), {failed} failed")
print(f"import (analyse + tag)      {e - s:.1f} s  {n / (e - s):.1f} files/s, {audio / (e - s):.0f}x realtime, 2 s settle included")
print(f"tags alone, rewritten       {re - rs:.1f} s  {n / (re - rs):.1f} files/s  ({rewrite})")
EOF
