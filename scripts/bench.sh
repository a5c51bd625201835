#!/usr/bin/env bash
# The speed benchmark behind `make bench`: genred and the original musicnn pipeline on the
# same real recordings (scripts/bench-audio.sh), one after the other in one run, then the
# ratio of their end-to-end times. Figures depend on the machine being otherwise idle:
# the load average is printed before and after.
#
#   scripts/bench.sh [BINARY]      (default .build/release/genred)
#
# GENRED_BENCH_ORIGINAL=0 skips the original pipeline. GENRED_BENCH_PRECISIONS (default
# "bf16 bf16-plain int8 int8-static") are measured too, each beside fp32 in its own genred bench run
# (where the CPU has no native kernel for one, its run says so and stops there).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/.build/release/genred}
cd "$root"
list=$(scripts/bench-audio.sh)  # a failure here stops the script (set -e)
mapfile -t files <<<"$list"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

load() { cut -d' ' -f1 /proc/loadavg; }
echo "load average before: $(load) (figures are only comparable on an idle machine: below 0.5)"
echo "== genred bench"
"$bin" bench "${files[@]}" | tee "$out/genred"
for p in ${GENRED_BENCH_PRECISIONS-bf16 bf16-plain int8 int8-static}; do
  echo "== genred bench --precision $p"
  "$bin" bench --no-import --precision "$p" "${files[@]}" 2>&1 | grep -E '^(precision|for analysis|end to end|inference alone|inference [a-z0-9-]+ (at|peak))' | tee -a "$out/precisions"
done
if [[ ${GENRED_BENCH_ORIGINAL:-1} != 0 ]]; then
  echo "== the original pipeline (Python, librosa, TensorFlow) on the same files"
  scripts/bench-original.sh --mode batched "${files[@]}" | tee "$out/original"
  # genred's faster way end to end (one file at a time, or several at once).
  genred=$(awk '$1 == "end" && $2 == "to" && (best == "" || $4 < best) { best = $4 } END { print best }' "$out/genred")
  original=$(awk '$1 == "original" { print $3 }' "$out/original")
  awk -v g="$genred" -v o="$original" 'BEGIN {
    printf "== genred end to end %.3f s, original pipeline %.3f s: genred %.1fx faster\n", g, o, o / g }'
  # Each reduced precision's end to end time (from its own run) against the same original run.
  [[ -f $out/precisions ]] && awk -v o="$original" '$1 == "end" && $2 == "to" && $3 == "end" && $4 != "" && $5 ~ /^[0-9.]+$/ {
    printf "== genred %s end to end %.3f s: %.1fx the original pipeline\n", $4, $5, o / $5 }' "$out/precisions"
fi
echo "load average after: $(load)"
