#!/usr/bin/env bash
# The Debian package as a user meets it, on this machine (root: it installs, upgrades, removes
# and purges the package for real, and leaves no genred package behind):
#   1. an older version of the same package (the same files, a lower version) installs with apt;
#   2. the installed genred analyses a bundled clip from outside the source tree, has its man
#      pages, completions and doctor, and its system user tags a folder into /var/lib/genred;
#   3. the database is put back to the previous release's schema, the config edited, and the
#      package upgraded: config, database and journal kept, schema migrated;
#   4. a database from a newer genred is refused and left unchanged;
#   5. apt remove keeps /etc/genred and /var/lib/genred; apt purge removes the config and says
#      where the database was left.
#
#   scripts/test-deb.sh dist/genred_VERSION_amd64.deb
set -uo pipefail

deb=$(readlink -f "${1:?usage: scripts/test-deb.sh PACKAGE.deb}")
src=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) -eq 0 ]] || { echo "test-deb.sh: run as root (it installs the package)" >&2; exit 2; }

work=$(mktemp -d /tmp/genred-deb-test.XXXXXX)
passed=0
failed=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@" >"$work/last.out" 2>&1; then
    passed=$((passed + 1))
    echo "ok    $what"
  else
    failed=$((failed + 1))
    echo "FAIL  $what"
    sed 's/^/      | /' "$work/last.out" | tail -n 20
  fi
}
apt_quiet() { DEBIAN_FRONTEND=noninteractive apt-get "$@" -y -q -o Dpkg::Options::=--force-confold >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; return 1; }; }
cleanup() {
  if dpkg -s genred >/dev/null 2>&1; then apt_quiet purge genred; fi
  rm -rf /var/lib/genred /etc/genred "$work"
  if getent passwd genred >/dev/null; then deluser --quiet --system genred >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# A clean start: no genred package, user, config or database from an earlier run.
cleanup
work=$(mktemp -d /tmp/genred-deb-test.XXXXXX)

version=$(dpkg-deb -f "$deb" Version)
older="${version}~older"
dpkg-deb -R "$deb" "$work/older"
sed -i "s/^Version: .*/Version: $older/" "$work/older/DEBIAN/control"
dpkg-deb --root-owner-group -b "$work/older" "$work/genred_${older}_amd64.deb" >/dev/null
rm -rf "$work/older"

echo "== the package: $deb ($version), and the same files as $older"
check "its dependencies are Debian 12's libraries only, no Swift runtime" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q libc6 && ! dpkg-deb -f '$deb' Depends | grep -qi swift"
check "the model bundles, units, man pages and completions are in it" bash -c "
  dpkg-deb -c '$deb' > '$work/contents' &&
  for f in ./usr/bin/genred ./usr/share/genred/models/msd-musicnn/weights.safetensors ./usr/share/genred/models/mtt-musicnn/LICENSE \
           ./etc/genred/genred.toml ./lib/systemd/system/genred.service ./lib/systemd/system/genred-serve.service \
           ./lib/systemd/system/genred-worker.service ./usr/lib/systemd/user/genred.service ./usr/lib/systemd/user/genred-radio.service ./usr/share/man/man1/genred-retag.1.gz \
           ./usr/share/bash-completion/completions/genred ./usr/share/zsh/vendor-completions/_genred \
           ./usr/share/fish/vendor_completions.d/genred.fish ./usr/share/doc/genred/copyright; do
    grep -q \" \$f\$\" '$work/contents' || { echo \"missing: \$f\"; exit 1; }
  done"
check "the config is a conffile" bash -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/genred/genred.toml"
check "copyright names genred's licence and the weights' (ISC)" bash -c "
  dpkg-deb --fsys-tarfile '$deb' | tar -xO ./usr/share/doc/genred/copyright > '$work/copyright' &&
  grep -q 'License: Expat' '$work/copyright' && grep -q 'License: ISC' '$work/copyright' && grep -q musicnn '$work/copyright'"

echo "== install $older with apt"
check "apt installs it" apt_quiet install "$work/genred_${older}_amd64.deb"
check "the genred system user exists" getent passwd genred
check "/var/lib/genred belongs to genred" bash -c "[ \"\$(stat -c %U /var/lib/genred)\" = genred ]"
check "the binary needs no Swift runtime library" bash -c "! ldd /usr/bin/genred | grep -i swift"
check "genred.service is enabled; serve and worker are not" bash -c "
  [ -e /etc/systemd/system/multi-user.target.wants/genred.service ] &&
  [ ! -e /etc/systemd/system/multi-user.target.wants/genred-serve.service ] &&
  [ ! -e /etc/systemd/system/multi-user.target.wants/genred-worker.service ]"

mkdir -p "$work/clip" "$work/music"
cp "$src/Tests/GenredKitTests/Fixtures/audio/groove.wav" "$work/clip/"
cp "$src/Tests/GenredKitTests/Fixtures/audio/groove.wav" "$src/Tests/GenredKitTests/Fixtures/audio/ballad.wav" "$work/music/"
chown -R genred:genred "$work/music"
chmod 755 "$work"
check "the installed genred analyses a clip from outside the source tree" bash -c "
  cd / && env -u GENRED_MODELS /usr/bin/genred analyze --json '$work/clip/groove.wav' > '$work/analyze.json' &&
  python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o[\"model\"]==\"msd-musicnn\" and len(o[\"labels\"])==50, o' '$work/analyze.json'"
check "man genred-retag" bash -c "MANPAGER=cat man genred-retag 2>/dev/null | grep -q 'genred-retag'"
check "man genred" bash -c "MANPAGER=cat man genred 2>/dev/null | grep -q doctor"
check "the bash completion script loads and knows genred's commands" bash -c "
  source /usr/share/bash-completion/completions/genred && complete -p genred && grep -q retag /usr/share/bash-completion/completions/genred"
check "genred doctor --json names the missing roots and exits 1" bash -c "
  cd / && runuser -u genred -- /usr/bin/genred doctor --json --config /etc/genred/genred.toml > '$work/doctor.json'; [ \$? -eq 1 ] &&
  python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert not o[\"ok\"]; assert any(c[\"area\"]==\"roots\" and c[\"status\"]==\"problem\" and c[\"fix\"] for c in o[\"checks\"]), o' '$work/doctor.json'"
check "the genred user tags a folder into /var/lib/genred" bash -c "
  cd / && runuser -u genred -- /usr/bin/genred retag '$work/music' --db /var/lib/genred/library.sqlite --overwrite > '$work/retag.out' 2>&1 &&
  [ \"\$(sqlite3 /var/lib/genred/library.sqlite 'SELECT COUNT(*) FROM tag_journal')\" -gt 0 ]"

# The schema of two releases before (before v6-workers and v7-analysis-precision), and a config
# the user edited.
sqlite3 /var/lib/genred/library.sqlite "DROP TABLE job; DROP TABLE worker; ALTER TABLE write_intent DROP COLUMN host;
  ALTER TABLE analysis DROP COLUMN precision;
  DELETE FROM grdb_migrations WHERE identifier IN ('v6-workers', 'v7-analysis-precision');"
tracks=$(sqlite3 /var/lib/genred/library.sqlite 'SELECT COUNT(*) FROM track')
journal=$(sqlite3 /var/lib/genred/library.sqlite 'SELECT COUNT(*) FROM tag_journal')
sed -i "s|^\[library\]\$|[library]\n# edited by hand\nroots = [\"$work/music\"]|" /etc/genred/genred.toml
grep -q "edited by hand" /etc/genred/genred.toml || { echo "test-deb.sh: could not edit the config" >&2; exit 1; }
edited=$(sha256sum /etc/genred/genred.toml)

echo "== upgrade to $version with apt"
check "apt upgrades it" apt_quiet install "$deb"
check "the version is $version" bash -c "[ \"\$(dpkg-query -W -f '\${Version}' genred)\" = '$version' ]"
check "the edited config is kept" bash -c "echo '$edited' | sha256sum -c --quiet"
check "the database and the journal are kept ($tracks tracks, $journal journal entries)" bash -c "
  [ \"\$(sqlite3 /var/lib/genred/library.sqlite 'SELECT COUNT(*) FROM track')\" = '$tracks' ] &&
  [ \"\$(sqlite3 /var/lib/genred/library.sqlite 'SELECT COUNT(*) FROM tag_journal')\" = '$journal' ]"
check "the schema is migrated (v6-workers and v7-analysis-precision applied again, by its owner)" bash -c "
  sqlite3 /var/lib/genred/library.sqlite \"SELECT identifier FROM grdb_migrations\" | grep -qx v6-workers &&
  sqlite3 /var/lib/genred/library.sqlite \"SELECT identifier FROM grdb_migrations\" | grep -qx v7-analysis-precision &&
  [ \"\$(stat -c %U /var/lib/genred/library.sqlite)\" = genred ]"
check "the analyses from before read fp32" bash -c "
  [ \"\$(sqlite3 /var/lib/genred/library.sqlite \"SELECT COUNT(*) FROM analysis WHERE precision = 'fp32'\")\" = \
    \"\$(sqlite3 /var/lib/genred/library.sqlite 'SELECT COUNT(*) FROM analysis')\" ] &&
  [ \"\$(sqlite3 /var/lib/genred/library.sqlite 'SELECT COUNT(*) FROM analysis')\" -gt 0 ]"
check "genred status reads it" bash -c "cd / && runuser -u genred -- /usr/bin/genred status --db /var/lib/genred/library.sqlite | grep -q 'tracks'"
check "genred doctor finds nothing to fix in the roots and the database" bash -c "
  cd / && runuser -u genred -- /usr/bin/genred doctor --json --config /etc/genred/genred.toml --db /var/lib/genred/library.sqlite > '$work/doctor2.json';
  python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); bad=[c for c in o[\"checks\"] if c[\"status\"]==\"problem\" and c[\"area\"] in (\"roots\",\"database\",\"config\",\"model\")]; assert not bad, bad' '$work/doctor2.json'"

echo "== a database from a newer genred"
cp /var/lib/genred/library.sqlite "$work/newer.sqlite"
sqlite3 "$work/newer.sqlite" "INSERT INTO grdb_migrations (identifier) VALUES ('v999-from-the-future');"
before=$(sha256sum "$work/newer.sqlite" | cut -d' ' -f1)
check "is refused with a clear message" bash -c "
  cd / && ! /usr/bin/genred migrate --db '$work/newer.sqlite' 2> '$work/newer.err' && grep -q 'newer version of genred' '$work/newer.err'"
check "and is left unchanged" bash -c "[ \"\$(sha256sum '$work/newer.sqlite' | cut -d' ' -f1)\" = '$before' ]"

echo "== apt remove, then apt purge"
check "apt removes it" apt_quiet remove genred
check "the binary is gone" bash -c "[ ! -e /usr/bin/genred ]"
check "/etc/genred and /var/lib/genred are kept" bash -c "[ -f /etc/genred/genred.toml ] && [ -f /var/lib/genred/library.sqlite ]"
check "apt purges it" apt_quiet purge genred
check "purge says where the database was left" grep -q "left in /var/lib/genred" "$work/apt.log"
check "the config is gone" bash -c "[ ! -e /etc/genred ]"
check "the database is left" bash -c "[ -f /var/lib/genred/library.sqlite ]"

echo "test-deb: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
