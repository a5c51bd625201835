#!/usr/bin/env bash
# Makes the benchmark's audio set in DIR (default .build/bench-audio) from freely licensed
# recordings that Debian ships, in the formats and rates music collections hold, and
# prints the files' paths, one a line. About 19 minutes of music:
#
#   opus48.opus    Opus 48 kHz stereo, as shipped: "track3" of the Warzone 2100 original
#                  soundtrack (Martin Severn; GPL-2+), warzone2100-music
#   vorbis44.ogg   Ogg Vorbis 44.1 kHz stereo, as shipped: "Legends of the North" (Wesnoth; GPL-2+),
#                  wesnoth-1.16-music
#   mp3-44k.mp3    MP3 44.1 kHz stereo, lame -V2 from the shipped Ogg Vorbis of "Heroes' Rite"
#                  (Wesnoth; GPL-2+)
#   flac44.flac    FLAC 44.1 kHz 16-bit stereo, from the shipped Ogg Vorbis of "Journey's End"
#                  (Wesnoth; GPL-2+)
#   mp3-22k.mp3    MP3 22.05 kHz stereo, lame -V5 from the shipped Opus of the Warzone 2100
#                  menu theme (GPL-2+)
#
# Neither package has MP3 or FLAC, so those are encoded here from the shipped (lossy)
# recordings. Licences: /usr/share/doc/warzone2100-music/copyright and
# /usr/share/doc/wesnoth-1.16-music/copyright inside the packages, kept in DIR/licenses.
#
# Needs apt-get (the .deb files are downloaded, not installed), dpkg-deb, opusdec, oggdec,
# lame and flac (scripts/install-deps.sh installs them). Idempotent: once the set is
# there it only prints the paths. Run as root or with sudo when the apt lists must be fetched.
set -euo pipefail
dir=${1:-.build/bench-audio}
files=(opus48.opus vorbis44.ogg mp3-44k.mp3 flac44.flac mp3-22k.mp3)

complete() {
  for f in "${files[@]}"; do [[ -s "$dir/$f" ]] || return 1; done
}

if ! complete; then
  mkdir -p "$dir"
  work=$(mktemp -d "$dir/.work.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"

  # apt-get download needs the package lists; fetch them once if they are missing.
  fetch() {
    (cd "$work" && apt-get download "$@" >/dev/null 2>&1) && return 0
    $sudo apt-get update -qq >/dev/null
    (cd "$work" && apt-get download "$@" >/dev/null)
  }
  echo "fetching warzone2100-music and wesnoth-1.16-music (about 240 MB)..." >&2
  fetch warzone2100-music wesnoth-1.16-music
  # dpkg-deb -x on the .deb files, keeping only the tracks used and the licences.
  wz=./usr/share/games/warzone2100/music
  wn=./usr/share/games/wesnoth/1.16/data/core/music
  dpkg-deb --fsys-tarfile "$work"/warzone2100-music_*.deb |
    tar -x -C "$work" "$wz/albums/original_soundtrack/track3.opus" "$wz/menu.opus" \
      ./usr/share/doc/warzone2100-music/copyright
  dpkg-deb --fsys-tarfile "$work"/wesnoth-1.16-music_*.deb |
    tar -x -C "$work" "$wn/legends_of_the_north.ogg" "$wn/heroes_rite.ogg" "$wn/journeys_end.ogg" \
      ./usr/share/doc/wesnoth-1.16-music/copyright
  rm -f "$work"/*.deb

  mkdir -p "$dir/licenses"
  cp "$work/usr/share/doc/warzone2100-music/copyright" "$dir/licenses/warzone2100-music.copyright"
  cp "$work/usr/share/doc/wesnoth-1.16-music/copyright" "$dir/licenses/wesnoth-1.16-music.copyright"
  cp "$work/$wz/albums/original_soundtrack/track3.opus" "$work/opus48.opus"
  cp "$work/$wn/legends_of_the_north.ogg" "$work/vorbis44.ogg"
  oggdec -Q "$work/$wn/heroes_rite.ogg" -o "$work/heroes.wav"
  lame --quiet -V2 "$work/heroes.wav" "$work/mp3-44k.mp3"
  oggdec -Q "$work/$wn/journeys_end.ogg" -o "$work/journey.wav"
  flac -s -f --best "$work/journey.wav" -o "$work/flac44.flac"
  opusdec --quiet --rate 44100 "$work/$wz/menu.opus" "$work/menu.wav"
  lame --quiet -V5 --resample 22.05 "$work/menu.wav" "$work/mp3-22k.mp3"
  for f in "${files[@]}"; do mv -f "$work/$f" "$dir/$f"; done
fi

for f in "${files[@]}"; do echo "$dir/$f"; done
