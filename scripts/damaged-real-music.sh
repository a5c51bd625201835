#!/usr/bin/env bash
# Real music, damaged on purpose, through genred analyze: the cases of docs/damaged-files.md.
#
# Takes track12.opus from Debian's warzone2100-music (CC-BY-SA / GPL, see the package's
# copyright file) and hr3-hell.ogg from hyperrogue-music (CC-BY-SA-3.0), makes an MP3 and a
# FLAC of the Ogg's audio, then cuts copies in half and inserts 4 KiB of garbage in their
# middles, and prints a Markdown table of what `genred analyze --json` says about each file.
#
# Needs Debian's archive (apt-get download; run `apt-get update` first on a fresh machine),
# dpkg-deb, oggdec, lame, flac and python3. Files are kept under .build/damaged-music.
#
# Usage: scripts/damaged-real-music.sh [genred binary]   (default: .build/release/genred)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/.build/release/genred}
work=$root/.build/damaged-music
[[ -x "$bin" ]] || { echo "no genred binary at $bin: run 'swift build -c release' first" >&2; exit 1; }
mkdir -p "$work/debs" "$work/files"

cd "$work/debs"
for package in warzone2100-music hyperrogue-music; do
  ls "${package}"_*.deb >/dev/null 2>&1 || apt-get download -q "$package" >/dev/null
  [[ -d "$work/$package" ]] || dpkg-deb -x "${package}"_*.deb "$work/$package"
done
opus=$work/warzone2100-music/usr/share/games/warzone2100/music/albums/legacy_soundtrack/track12.opus
ogg=$work/hyperrogue-music/usr/share/hyperrogue/music/hr3-hell.ogg

files=$work/files
rm -f "$files"/*
cp "$opus" "$files/track12.opus"
cp "$ogg" "$files/hr3-hell.ogg"
oggdec --quiet "$ogg" -o "$work/hr3-hell.wav"
lame --silent -V 2 "$work/hr3-hell.wav" "$files/hr3-hell.mp3"
flac --silent --force "$work/hr3-hell.wav" -o "$files/hr3-hell.flac"

# Cut in half; 4 KiB of seeded garbage inserted at the middle byte.
python3 - "$files" <<'EOF'
import os, random, sys
folder = sys.argv[1]
for name in sorted(os.listdir(folder)):
    stem, ext = os.path.splitext(name)
    data = open(os.path.join(folder, name), "rb").read()
    mid = len(data) // 2
    junk = random.Random(2024).randbytes(4096)
    open(os.path.join(folder, f"{stem}-cut-in-half{ext}"), "wb").write(data[:mid])
    open(os.path.join(folder, f"{stem}-4k-garbage-inside{ext}"), "wb").write(data[:mid] + junk + data[mid:])
EOF

"$bin" analyze --json "$files"/* > "$work/results.jsonl" || true

python3 - "$work/results.jsonl" <<'EOF'
import json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| file | outcome | duration | top tags (mean) | damaged / error |")
print("| --- | --- | --- | --- | --- |")
for r in rows:
    name = os.path.basename(r["path"])
    if "error" in r:
        print(f"| `{name}` | refused | | | {r['error']} |")
        continue
    top = sorted(zip(r["mean"], r["labels"]), reverse=True)[:3]
    tags = ", ".join(f"{label} {score:.2f}" for score, label in top)
    outcome = "analysed, damaged" if "damaged" in r else "analysed"
    print(f"| `{name}` | {outcome} | {r['duration_s']:.2f} s | {tags} | {r.get('damaged', '')} |")
EOF
