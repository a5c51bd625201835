#!/usr/bin/python3
"""Fault injection for genred's tag writes.

Builds a small library of real music in every format genred writes (MP3 with ID3v2.4 and
ID3v2.3, FLAC with a picture, Ogg Vorbis and Opus as Debian ships them, WAV, AIFF), then
SIGKILLs `genred retag`, `genred undo` and the daemon (`genred watch`) at random moments, many
times, and lets the work complete. It checks, with decoders and a tag reader that are not
genred's (lame, flac, oggdec, opusdec, sox; mutagen):

- files whose audio changed;
- files that lost or changed any tag other than GENRE and MOOD;
- genre or mood values in a file that the journal does not explain (a write missing from it);
- stray files in the music folder or the backup folder, write intents left unsettled;
- SQLite's integrity_check;
- whether `genred undo --all` gives every file its original genre and mood back.

Every count must be 0. Prints a Markdown table (docs/safety.md holds one).

    scripts/fault-inject.py [--kills 100] [--seed 1] [--genred .build/release/genred]

Needs root or sudo once, to download the two music packages with apt-get.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mutagen
from mutagen.flac import FLAC, Picture
from mutagen.wave import WAVE
from mutagen.id3 import ID3, APIC, COMM, TCON, TIT2, TPE1, TALB, TXXX, PRIV

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".build" / "fault-audio"
PACKAGES = ["singularity-music", "warzone2100-music"]  # CC-BY-SA-3.0 Ogg Vorbis; GPL-2+ Opus
FIELDS = ("GENRE", "MOOD")


def run(args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def fetch_music():
    """The packages' Ogg and Opus files, downloaded and unpacked once into CACHE."""
    root = CACHE / "root"
    if not root.exists():
        debs = CACHE / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        if not list(debs.glob("*.deb")):
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
            subprocess.run(["apt-get", "download"] + PACKAGES, cwd=debs, check=True)
        tmp = CACHE / "root.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for deb in debs.glob("*.deb"):
            run(["dpkg-deb", "-x", str(deb), str(tmp)])
        tmp.rename(root)
    oggs = sorted(p for p in root.rglob("*.ogg"))
    opuses = sorted(p for p in root.rglob("*.opus"))
    if len(oggs) < 4 or len(opuses) < 2:
        sys.exit("fault-inject: the music packages did not unpack as expected")
    return oggs, opuses


def make_library(music, oggs, opuses):
    """Real recordings in every format, with tags of the kinds that get lost in practice."""
    music.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="genred-fault-src-"))
    try:
        shutil.copy(oggs[0], music / "shipped-1.ogg")
        shutil.copy(oggs[1], music / "shipped-2.ogg")
        shutil.copy(opuses[0], music / "shipped-1.opus")
        shutil.copy(opuses[1], music / "shipped-2.opus")
        # 40 s excerpts of other recordings, encoded the ways collections hold them.
        for i, src in enumerate(oggs[2:6]):
            wav = work / f"src{i}.wav"
            run(["sox", str(src), str(wav), "trim", "10", "40"])
            stem = f"{src.stem}"
            if i == 0:
                mp3 = music / f"{stem}-v24.mp3"
                run(["lame", "--quiet", "-V2", "--resample", "44.1", "--tt", stem, "--ta", "Singularity", str(wav), str(mp3)])
                tags = ID3(mp3)
                tags.add(COMM(encoding=3, lang="eng", desc="", text="kept"))
                tags.add(PRIV(owner="genred-test", data=b"\x00\x01private"))
                tags.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=b"\x89PNG\r\n\x1a\n" + b"p" * 500))
                tags.save(mp3, v2_version=4)
                mp3b = music / f"{stem}-v23.mp3"
                run(["lame", "--quiet", "-b", "192", str(wav), str(mp3b)])
                t = ID3()
                t.add(TIT2(encoding=1, text=stem))
                t.add(TPE1(encoding=1, text="Singularity"))
                t.add(TALB(encoding=1, text="Soundtrack"))
                t.add(TXXX(encoding=1, desc="CATALOG", text="X-1"))
                t.save(mp3b, v2_version=3)
                mp3c = music / f"{stem}-22k.mp3"
                run(["lame", "--quiet", "--resample", "22.05", "-b", "64", "--tt", stem, str(wav), str(mp3c)])
            elif i == 1:
                flac = music / f"{stem}.flac"
                run(["flac", "--silent", "-f", "-T", f"TITLE={stem}", "-T", "ARTIST=Singularity", "-o", str(flac), str(wav)])
                f = FLAC(flac)
                pic = Picture()
                pic.type, pic.mime, pic.desc, pic.data = 3, "image/png", "cover", b"\x89PNG\r\n\x1a\n" + b"q" * 700
                f.add_picture(pic)
                f["COMMENT"] = "kept"
                f.save()
                opus = music / f"{stem}-enc.opus"
                run(["opusenc", "--quiet", "--title", stem, "--artist", "Singularity", str(wav), str(opus)])
            elif i == 2:
                out = music / f"{stem}.wav"
                shutil.copy(wav, out)
                w = WAVE(out)  # an ID3 chunk inside the RIFF file
                w.add_tags()
                w.tags.add(TIT2(encoding=3, text=stem))
                w.save()
                aiff = music / f"{stem}.aiff"
                run(["sox", str(wav), str(aiff)])
            else:
                ogg = music / f"{stem}-q3.ogg"
                run(["oggenc", "--quiet", "-q", "3", "-t", stem, "-c", "GENRE=Film Score", "-o", str(ogg), str(wav)])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def audio_digest(path):
    """SHA-256 of the decoded PCM, by a decoder that is not genred's."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        ext = path.suffix.lower()
        if ext == ".mp3":
            run(["lame", "--quiet", "--decode", str(path), str(out)])
        elif ext == ".flac":
            run(["flac", "-d", "-s", "-f", "-o", str(out), str(path)])
        elif ext == ".ogg":
            run(["oggdec", "-Q", "-o", str(out), str(path)])
        elif ext == ".opus":
            run(["opusdec", "--quiet", str(path), str(out)])
        else:
            run(["sox", str(path), "-t", "wav", str(out)])
        return hashlib.sha256(out.read_bytes()).hexdigest()


def split(values):
    out = []
    for v in values:
        out += [p.strip() for p in str(v).split("/") if p.strip()]
    return out


def read_tags(path):
    """(genre and mood values, every other tag item) as mutagen sees them."""
    f = mutagen.File(path)
    fields, other = {k: [] for k in FIELDS}, {}
    tags = f.tags if f is not None else None
    if isinstance(tags, ID3):
        if len(tags):
            other["@id3-version"] = f"2.{tags.version[1]}"  # a v2.3 tag must stay v2.3
        for key, frame in tags.items():
            if key.startswith("TCON"):
                fields["GENRE"] = split(frame.text)
            elif key.startswith("TMOO") or key == "TXXX:MOOD":
                fields["MOOD"] = split(frame.text)
            else:
                other[key] = frame.pprint()  # the content, not the text encoding TagLib chose
    elif tags is not None:
        for key, value in tags.items():
            k = key.upper()
            if k in FIELDS:
                fields[k] = list(value)
            else:
                other[k] = sorted(value) if isinstance(value, list) else value
    for i, pic in enumerate(getattr(f, "pictures", []) or []):
        other[f"@picture{i}"] = hashlib.sha256(pic.data).hexdigest()
    return fields, other


def snapshot(music):
    state = {}
    for p in sorted(music.iterdir()):
        fields, other = read_tags(p)
        state[p.name] = {"audio": audio_digest(p), "fields": fields, "other": other}
    return state


class Genred:
    def __init__(self, binary, work):
        self.binary, self.work = str(binary), work
        work.mkdir(parents=True, exist_ok=True)
        self.db = work / "state" / "library.sqlite"
        self.music = work / "music"
        self.log = open(work / "genred.log", "ab")

    def config(self, variant):
        # Each round names the common genres its own way, with --overwrite semantics: every
        # file has new values to write in every round.
        path = self.work / "genred.toml"
        path.write_text(f"""[tags]
policy = "overwrite"
genre_threshold = 0.1
max_genres = {1 + variant % 3}
mood_threshold = 0.05
[tags.genre_map]
ambient = "Ambient {variant}"
electronic = "Electronic {variant}"
[watch]
settle_seconds = 0.5
log_level = "info"
""")
        return str(path)

    def start(self, command, variant):
        args = {
            "retag": ["retag", "--rewrite-undone", str(self.music)],
            "undo": ["undo", "--all"],
            "watch": ["watch", str(self.music)],
        }[command]
        return subprocess.Popen([self.binary] + args + ["--db", str(self.db), "--config", self.config(variant)],
                                stdout=self.log, stderr=self.log)

    def unsettled(self):
        """The ids of the write intents pending now."""
        if not self.db.exists():
            return set()
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return {row[0] for row in con.execute("SELECT id FROM write_intent")}
        except sqlite3.OperationalError:
            return set()
        finally:
            con.close()


def journal_expectations(db, originals, music):
    """For each file, what the journal says its genre and mood are now (original if untouched)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    tracks = {row[1]: row[0] for row in con.execute("SELECT id, path FROM track")}
    expected = {}
    for name, orig in originals.items():
        path = str(music / name)
        want = {k: list(v) for k, v in orig["fields"].items()}
        tid = tracks.get(path)
        rows = con.execute("SELECT new FROM tag_journal WHERE track_id = ? OR (track_id IS NULL AND path = ?) ORDER BY id",
                           (tid, path)).fetchall()
        for (new,) in rows:
            for k, v in json.loads(new).items():
                want[k] = v
        expected[name] = want
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    intents = con.execute("SELECT COUNT(*) FROM write_intent").fetchone()[0]
    con.close()
    return expected, integrity, intents


def same_other(before, after):
    """Every tag item but GENRE and MOOD unchanged; a file that had no ID3 tag may gain one."""
    a, b = dict(before["other"]), dict(after["other"])
    if "@id3-version" not in a:
        b.pop("@id3-version", None)
    return a == b


def compare(originals, now, expected, music, backups):
    rows = {}
    rows["files whose audio changed"] = [n for n in originals if now[n]["audio"] != originals[n]["audio"]]
    rows["files that lost or changed another tag"] = [n for n in originals if not same_other(originals[n], now[n])]
    rows["genre/mood values the journal does not explain"] = [
        f"{n}: {k} is {now[n]['fields'][k]}, journal says {expected[n][k]}"
        for n in originals for k in FIELDS if now[n]["fields"][k] != expected[n][k]]
    extra = sorted(set(p.name for p in music.iterdir()) - set(originals))
    left = sorted(p.name for p in backups.iterdir() if p.name != "lock") if backups.exists() else []
    rows["stray files (music folder, backup folder)"] = extra + left
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=100, help="SIGKILLs of retag/undo and, as many again, of the daemon")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--genred", default=str(REPO / ".build/release/genred"))
    ap.add_argument("--work", default=None, help="working folder (default: a new temporary one, removed at the end)")
    ap.add_argument("--max-delay", type=float, default=5.0, help="kill within this many seconds of the start")
    a = ap.parse_args()
    if not Path(a.genred).exists():
        sys.exit(f"fault-inject: {a.genred} not found; run `swift build -c release` first")
    rng = random.Random(a.seed)
    work = Path(a.work or tempfile.mkdtemp(prefix="genred-fault-"))
    oggs, opuses = fetch_music()
    g = Genred(a.genred, work)
    make_library(g.music, oggs, opuses)
    originals = snapshot(g.music)
    print(f"library: {len(originals)} files in {g.music}", file=sys.stderr)

    # First analysis, so later rounds spend their time writing tags.
    subprocess.run([a.genred, "retag", str(g.music), "--db", str(g.db), "--config", g.config(0)],
                   stdout=g.log, stderr=g.log)
    kills = {"retag": 0, "undo": 0, "watch": 0}
    mid_write = 0
    interrupted = set()
    flips = 0
    t0 = time.time()
    # Half the rounds are the daemon; of the others, two in three are retag and one is undo.
    schedule = ["retag", "watch", "retag", "watch", "undo", "watch"]
    for i in range(2 * a.kills):
        command = schedule[i % len(schedule)]
        if command != "undo":
            flips += 1  # each retag or daemon run has settings of its own: it has tags to rewrite
        p = g.start(command, variant=flips)
        time.sleep(rng.uniform(0.2, a.max_delay))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills[command] += 1
        p.wait()
        pending = g.unsettled()
        if pending - interrupted:
            mid_write += 1  # this kill stopped a write (not only a settling of an earlier one)
        interrupted |= pending
        if i % 20 == 19:
            print(f"  {i + 1} rounds, {sum(kills.values())} kills, {mid_write} inside a write "
                  f"({time.time() - t0:.0f} s)", file=sys.stderr)

    # Let the work complete: a retag to the end, then the daemon until its queue is empty.
    subprocess.run([a.genred, "retag", "--rewrite-undone", str(g.music), "--db", str(g.db), "--config", g.config(0)],
                   stdout=g.log, stderr=g.log)
    d = g.start("watch", 0)
    for _ in range(600):
        time.sleep(0.5)
        st = subprocess.run([a.genred, "status", "--json", "--db", str(g.db)], capture_output=True, text=True)
        try:
            s = json.loads(st.stdout)
        except ValueError:
            continue
        if s.get("state") == "idle" and s.get("queue") == 0:
            break
    d.send_signal(signal.SIGTERM)
    d.wait()

    backups = g.db.parent / "backup"
    now = snapshot(g.music)
    expected, integrity, intents = journal_expectations(g.db, originals, g.music)
    rows = compare(originals, now, expected, g.music, backups)
    rows["write intents left unsettled"] = [str(intents)] if intents else []

    undo = subprocess.run([a.genred, "undo", "--all", "--db", str(g.db), "--config", g.config(0)],
                          capture_output=True, text=True)
    after = snapshot(g.music)
    rows["files whose genre or mood undo --all did not give back"] = [
        n for n in originals if after[n]["fields"] != originals[n]["fields"]]
    rows["files changed in audio or other tags after undo --all"] = [
        n for n in originals if after[n]["audio"] != originals[n]["audio"] or not same_other(originals[n], after[n])]

    g.log.flush()
    log = (work / "genred.log").read_text(errors="replace")
    settled = {what: log.count(text) for what, text in [
        ("untouched", "an interrupted write had not touched the file"),
        ("journaled", "an interrupted write had finished"),
        ("restored", "an interrupted write was undone"),
        ("stuck", "an interrupted write needs a look")]}
    print(f"\n{len(originals)} files; {sum(kills.values())} SIGKILLs (retag {kills['retag']}, undo {kills['undo']}, "
          f"daemon {kills['watch']}), {mid_write} of them inside a tag write; {time.time() - t0:.0f} s")
    print(f"interrupted writes: {len(interrupted)}")
    print("interrupted writes settled by the next run: " + ", ".join(f"{n} {w}" for w, n in settled.items()) + "\n")
    print("| check | count |")
    print("|---|---|")
    for name, found in rows.items():
        print(f"| {name} | {len(found)} |")
    print(f"| database integrity_check | {integrity} |")
    print(f"| undo --all exit status | {undo.returncode} |")
    bad = [(n, f) for n, f in rows.items() if f]
    for name, found in bad:
        print(f"\n{name}:", *found[:20], sep="\n  ")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if bad or integrity != "ok" or undo.returncode != 0 else 0)


if __name__ == "__main__":
    main()
