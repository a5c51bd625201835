#!/usr/bin/env bash
# Installs the Debian packages genred needs to build and test. Idempotent: quiet and quick
# when everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  # native libraries the build links
  pkg-config libsndfile1-dev libmpg123-dev libfftw3-dev libsoxr-dev libopenblas-dev
  libtag1-dev libinotifytools0-dev libsqlite3-dev libssl-dev
  # encoders the tests use to make real files of every supported format
  lame flac vorbis-tools opus-tools sox
  # an independent tag reader the tests check genred's writes with
  python3 python3-mutagen
  # the web app's test drives a real browser; bench-serve.sh loads the server with wrk
  chromium chromium-driver python3-selenium wrk curl
  # the PostgreSQL store's tests start a private server (scripts/pg-test-server.sh); the
  # worker benchmark stands in for hosts with network namespaces
  postgresql iproute2
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed ${#missing[@]} package(s)"

if ! command -v swift >/dev/null; then
  echo "swift is not on PATH: install Swift 6 (https://www.swift.org/install/linux/) and retry" >&2
  exit 1
fi
