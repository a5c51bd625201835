#!/usr/bin/env bash
# Makes the benchmark's audio set in DIR (default .build/bench-audio): 4 minutes of the
# synthetic 44.1 kHz stereo test clip, encoded as MP3 (lame -V2), FLAC and Ogg Vorbis (48 kHz).
set -euo pipefail
dir=${1:-.build/bench-audio}
src=$(dirname "$0")/../Tests/GenredKitTests/Fixtures/audio/groove_44k_stereo.wav
mkdir -p "$dir"
[[ -f "$dir/track.mp3" && -f "$dir/track.flac" && -f "$dir/track.ogg" ]] && { echo "$dir"; exit 0; }
sox "$src" "$dir/long.wav" repeat 39
sox "$dir/long.wav" -r 48000 "$dir/long48.wav"
lame --quiet -V2 "$dir/long.wav" "$dir/track.mp3"
flac -s -f "$dir/long.wav" -o "$dir/track.flac"
oggenc -Q "$dir/long48.wav" -o "$dir/track.ogg"
rm -f "$dir/long.wav" "$dir/long48.wav"
echo "$dir"
