#!/usr/bin/env bash
# The real-music set of the small-set learn tests and of `genred bench learn-set`: one
# 30-second excerpt (16 kHz mono WAV, from the middle) of each recording in five Debian
# packages of freely licensed game music, in folders LABEL/ALBUM/, made once into
# .build/learn-audio/set. Prints that folder.
#
#   Maxstack      singularity-music (CC-BY-SA-3.0)   16 recordings, 2 albums (its ALBUM tags)
#   Warzone 2100  warzone2100-music (GPL-2+)         30 recordings, 3 albums (menu theme with original)
#   HyperRogue    hyperrogue-music (CC-BY-SA-3.0)    17 recordings, 3 "albums" (one per composer)
#   Planet Blupi  planetblupi-music-ogg (GPL-3+)     10 recordings, 1 album
#   Drascula      drascula-music (BSD-like)          the 28 recordings of 30 s or more, 1 album
#
# Usage: scripts/learn-audio.sh   (downloads the packages once)
set -euo pipefail
cd "$(dirname "$0")/.."
exec 3>&1 1>&2
base=.build/learn-audio
set_dir=$base/set
packages=(singularity-music warzone2100-music hyperrogue-music planetblupi-music-ogg drascula-music)

if [[ ! -f $set_dir/.complete ]]; then
  root=$base/root
  if [[ ! -d $root ]]; then
    mkdir -p "$base/debs"
    (cd "$base/debs" && { apt-get download "${packages[@]}" 2>/dev/null ||
      { ${SUDO:-$([[ $(id -u) -eq 0 ]] || echo sudo)} apt-get update -qq && apt-get download "${packages[@]}"; }; })
    mkdir -p "$root.tmp"
    for deb in "$base"/debs/*.deb; do dpkg-deb -x "$deb" "$root.tmp"; done
    mv "$root.tmp" "$root"
  fi
  rm -rf "$set_dir"
  excerpt() { # SOURCE LABEL ALBUM
    local src=$1 out=$set_dir/$2/$3/$(basename "${1%.*}").wav wav len start
    mkdir -p "$(dirname "$out")"
    wav=$(mktemp --suffix=.wav)
    case $src in *.opus) opusdec --quiet "$src" "$wav" ;; *) sox "$src" "$wav" ;; esac
    len=$(soxi -D "$wav" | cut -d. -f1)
    start=$(( len > 30 ? (len - 30) / 2 : 0 ))
    sox "$wav" -r 16000 -c 1 -b 16 "$out" trim "$start" 30
    rm -f "$wav"
  }
  s=$root/usr/share/games/singularity/music
  find "$s" -name '*.ogg' -print0 | sort -z | while IFS= read -r -d '' f; do
    case $(soxi -a "$f" | grep -i '^album=') in
      *Advanced*) excerpt "$f" Maxstack advanced-research ;;
      *) excerpt "$f" Maxstack original ;;
    esac
  done
  w=$root/usr/share/games/warzone2100/music
  for a in aftermath legacy original; do
    for f in "$w/albums/${a}_soundtrack"/*.opus; do excerpt "$f" "Warzone 2100" "$a"; done
  done
  excerpt "$w/menu.opus" "Warzone 2100" original
  for f in "$root"/usr/share/hyperrogue/music/*.ogg; do
    name=$(basename "$f"); composer=${name#hr-}; composer=${composer%%-*}
    case $name in hr3-*) composer=hr3 ;; esac
    excerpt "$f" HyperRogue "$composer"
  done
  for f in "$root"/usr/share/planetblupi/music/*.ogg; do excerpt "$f" "Planet Blupi" blupi; done
  for f in "$root"/usr/share/scummvm/drascula/audio/*.ogg; do
    (( $(soxi -D "$f" | cut -d. -f1) >= 30 )) && excerpt "$f" Drascula drascula
  done
  touch "$set_dir/.complete"
fi
echo "$PWD/$set_dir" >&3
