#!/usr/bin/env bash
# Installs the Debian packages genred needs, by purpose:
#   build  what building and running genred needs (make build, make run)
#   test   build, plus the tools the tests use (make test)
#   deb    build, plus what making and checking the Debian package needs (make deb, make test-deb)
# Idempotent: quiet and quick when everything is present. Needs root (or sudo) only when
# something is missing.
set -euo pipefail

build=(
  # native libraries the build links
  pkg-config libsndfile1-dev libmpg123-dev libopus-dev libogg-dev libfftw3-dev libsoxr-dev libopenblas-dev
  libtag1-dev libinotifytools0-dev libsqlite3-dev libssl-dev libpq-dev
  # oneDNN: the bf16 products (precision = "bf16")
  libdnnl-dev
  # make install writes the man pages with a Python script
  python3
)
test=(
  # encoders the tests use to make real files of every supported format
  lame flac vorbis-tools opus-tools sox
  # an independent tag reader the tests check genred's writes with
  python3 python3-mutagen
  # the sqlite3 shell, for tests that put rows into a database by hand
  sqlite3
  # the web app's test drives a real browser; bench-serve.sh loads the server with wrk
  chromium chromium-driver python3-selenium wrk curl
  # the PostgreSQL store's tests start a private server (scripts/pg-test-server.sh); the
  # worker benchmark stands in for hosts with network namespaces
  postgresql iproute2
  # genred radio's tests start a private MPD and drive it with mpc
  mpd mpc
)
deb=(
  # the package build (debhelper's dh sequence) and its checks
  debhelper dpkg-dev fakeroot lintian python3 man-db bash-completion sqlite3
)

packages=("${build[@]}")
for purpose in "${@:-build}"; do
  case "$purpose" in
    build) ;;
    test) packages+=("${test[@]}") ;;
    deb) packages+=("${deb[@]}") ;;
    *) echo "install-deps.sh: unknown purpose '$purpose' (build, test or deb)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed ${#missing[@]} package(s)"
fi

if ! command -v swift >/dev/null; then
  echo "swift is not on PATH: install Swift 6 (https://www.swift.org/install/linux/) and retry" >&2
  exit 1
fi
