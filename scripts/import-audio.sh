#!/usr/bin/env bash
# The real-music set of the import and worker benchmarks: N files (default 1000), 30-second
# excerpts, at evenly spread offsets, of the 46 recordings in two Debian packages of freely
# licensed game music (singularity-music: Ogg Vorbis, CC-BY-SA-3.0; warzone2100-music: Opus,
# GPL-2+), encoded in turn as MP3 (lame -V2), FLAC, Ogg Vorbis (oggenc -q4) and Opus
# (opusenc), once, into .build/import-audio/nN. Prints that folder.
#
# Usage: scripts/import-audio.sh [N]   (downloads the packages once)
set -euo pipefail
n=${1:-1000}
cd "$(dirname "$0")/.."
# Only the folder goes to standard output; what the tools print goes to standard error.
exec 3>&1 1>&2
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

echo "$PWD/$set_dir" >&3
