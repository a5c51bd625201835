#!/usr/bin/env bash
# Times the original musicnn pipeline (Python, librosa, TensorFlow) on FILES, with
# tools/bench_original.py. MODE: batched (default) or extractor; see that file.
#
#   scripts/bench-original.sh [--mode MODE] FILE...
#
# The first run sets up, under .build/bench-original (about 2.7 GB, a few minutes): a
# Python virtual environment with TensorFlow 2.21 (CPU), tf_keras, librosa 0.11 and
# soundfile from PyPI (the versions the golden fixtures were made with), and the musicnn
# 0.1.0 wheel, which holds the original model code and checkpoints. Needs python3 with
# venv (Debian: python3-venv; installed here when missing, as root or with sudo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${GENRED_ORIGINAL_DIR:-$root/.build/bench-original}
venv=$base/venv
musicnn=$base/musicnn-0.1.0/musicnn

if ! "$venv/bin/python" -c "import tensorflow, tf_keras, librosa, soundfile" >/dev/null 2>&1; then
  echo "setting up $venv (TensorFlow, librosa; a few minutes)..." >&2
  mkdir -p "$base"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check \
    tensorflow-cpu==2.21.0 tf_keras==2.21.0 librosa==0.11.0 soundfile==0.14.0 >&2
fi
if [[ ! -f "$musicnn/MSD_musicnn/.index" ]]; then
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps musicnn==0.1.0 -d "$base/wheel" >&2
  "$venv/bin/python" -m zipfile -e "$base"/wheel/musicnn-0.1.0-py3-none-any.whl "$base/musicnn-0.1.0"
fi
# TensorFlow's start-up notices about the GPU it does not find are dropped; errors still show.
TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" "$root/tools/bench_original.py" --musicnn "$musicnn" "$@" \
  2> >(grep -v -E 'cudart_stub|cuInit|cuda_platform|absl::InitializeLog' >&2)
