#!/usr/bin/env python3
"""Tables for choosing genred's genre and mood tag defaults.

Reads the JSON lines of `genred analyze --json` (MSD model) and the model
bundle's manifest.json, and prints how many genres and moods tracks would get
under a range of thresholds, caps and label merges. Deterministic; standard
library only. The material and results are described in docs/tag-defaults.md.

    python3 tools/calibrate_tags.py analysis.jsonl \
        --manifest models/msd-musicnn/manifest.json [--sources sources.tsv]

--sources names a tab-separated file of `path<TAB>source` lines that groups
tracks by where they came from (otherwise the parent folder is the source).
"""

import argparse
import json
import math
import os
import statistics
from collections import Counter, defaultdict

THRESHOLDS = [0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4]
CAPS = [2, 3, 4]
FRACTIONS = [0.0, 0.25, 0.33, 0.5]

# Near-synonyms among the MSD genre labels, merged into one tag (the higher
# score counts): the model fires them together.
GENRE_MERGES = {
    "electronica": "electronic",
    "electro": "electronic",
    "indie": "alternative",
    "alternative rock": "alternative",
    "indie rock": "alternative",
    "heavy metal": "metal",
}


def load(paths, min_duration):
    tracks = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                obj = json.loads(line)
                if "mean" not in obj:
                    continue  # a file that failed
                if obj.get("duration_s", 0) < min_duration:
                    continue
                tracks.append(obj)
    tracks.sort(key=lambda t: t["path"])
    return tracks


def group_scores(track, labels, merges=None):
    """{tag: score} over `labels`; merged labels keep the higher score."""
    index = {l: i for i, l in enumerate(track["labels"])}
    out = {}
    for label in labels:
        tag = (merges or {}).get(label, label)
        s = track["mean"][index[label]]
        if tag not in out or s > out[tag]:
            out[tag] = s
    return out


def select(scores, threshold, cap, fraction=0.0):
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if not ranked:
        return []
    top = ranked[0][1]
    chosen = [t for t, s in ranked if s >= threshold and s >= fraction * top]
    return chosen[:cap]


def pct(n, d):
    return f"{100.0 * n / d:5.1f}" if d else "    -"


def quantiles(values, qs=(0.1, 0.25, 0.5, 0.75, 0.9)):
    v = sorted(values)
    out = []
    for q in qs:
        # nearest-rank on the sorted values (deterministic, no interpolation)
        k = min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))
        out.append(v[k])
    return out


def table_topk(name, per_track, k=5):
    print(f"\n## {name}: k-th highest score per track (quantiles over tracks)\n")
    print("| k | p10 | p25 | median | p75 | p90 |")
    print("|---|-----|-----|--------|-----|-----|")
    for i in range(k):
        vals = [sorted(s.values(), reverse=True)[i] for s in per_track]
        print(f"| {i + 1} | " + " | ".join(f"{x:.3f}" for x in quantiles(vals)) + " |")


def table_coverage(name, per_track, caps, fraction=0.0):
    n = len(per_track)
    rel = f", and at least {fraction:.2f} x the track's top score" if fraction else ""
    print(f"\n## {name}: % of tracks with 0 / 1 / 2 / 3+ tags (score >= threshold{rel}; uncapped), "
          f"and % of tracks the cap cuts short\n")
    head = "| threshold | 0 | 1 | 2 | 3+ | mean n | " + " | ".join(f"cut by cap {c}" for c in caps) + " |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for t in THRESHOLDS:
        counts = [len(select(s, t, 99, fraction)) for s in per_track]
        c = Counter(min(x, 3) for x in counts)
        row = [f"{t:.3f}", pct(c[0], n), pct(c[1], n), pct(c[2], n), pct(c[3], n),
               f"{statistics.mean(counts):.2f}"]
        for cap in caps:
            row.append(pct(sum(1 for x in counts if x > cap), n))
        print("| " + " | ".join(row) + " |")


def table_fraction(name, per_track, threshold, cap):
    n = len(per_track)
    print(f"\n## {name}: relative rule at threshold {threshold}, cap {cap} "
          f"(% of tracks with 0 / 1 / 2 / 3+ tags)\n")
    print("| fraction of top | 0 | 1 | 2 | 3+ | mean n |")
    print("|---|---|---|---|---|---|")
    for fr in FRACTIONS:
        counts = [len(select(s, threshold, cap, fr)) for s in per_track]
        c = Counter(min(x, 3) for x in counts)
        print(f"| {fr:.2f} | {pct(c[0], n)} | {pct(c[1], n)} | {pct(c[2], n)} | {pct(c[3], n)} | "
              f"{statistics.mean(counts):.2f} |")
    dropped = Counter()
    for s in per_track:
        dropped.update(set(select(s, threshold, cap)) - set(select(s, threshold, cap, 0.5)))
    if dropped:
        print("\nTags the 0.50 rule removes: " + ", ".join(f"{t} {c}" for t, c in dropped.most_common()))


def table_label_rates(name, per_track, threshold, cap, display):
    n = len(per_track)
    chosen = Counter()
    top1 = Counter()
    for s in per_track:
        sel = select(s, threshold, cap)
        chosen.update(sel)
        if sel:
            top1[sel[0]] += 1
    print(f"\n## {name}: how often each tag is written (threshold {threshold}, cap {cap})\n")
    print("| tag | written (% of tracks) | first tag (% of tracks) | median score |")
    print("|---|---|---|---|")
    tags = sorted(per_track[0].keys(), key=lambda t: (-chosen[t], t))
    for t in tags:
        med = statistics.median(s[t] for s in per_track)
        if chosen[t] == 0 and med < 0.02:
            continue
        print(f"| {display.get(t, t)} | {pct(chosen[t], n)} | {pct(top1[t], n)} | {med:.3f} |")


def table_correlation(per_track, pairs):
    print("\n## Pearson correlation of track scores between near-synonym genre labels\n")
    print("| label a | label b | r |")
    print("|---|---|---|")
    for a, b in pairs:
        xa = [s[a] for s in per_track]
        xb = [s[b] for s in per_track]
        print(f"| {a} | {b} | {statistics.correlation(xa, xb):.2f} |")


def table_sources(per_source, threshold, cap, display, mood_per_source=None, mood_threshold=None,
                  mood_cap=None):
    print(f"\n## Per source: most frequent first genre, and the tags written "
          f"(genres: threshold {threshold}, cap {cap}"
          + (f"; moods: threshold {mood_threshold}, cap {mood_cap}" if mood_per_source else "") + ")\n")
    print("| source | tracks | first genre (count) | genres written, most frequent (% of tracks) "
          "| tracks with 0 genres |" + (" moods written (% of tracks) |" if mood_per_source else ""))
    print("|---|---|---|---|---|" + ("---|" if mood_per_source else ""))
    for src in sorted(per_source):
        items = per_source[src]
        n = len(items)
        firsts = Counter()
        written = Counter()
        zero = 0
        for s in items:
            ranked = sorted(s.items(), key=lambda kv: (-kv[1], kv[0]))
            firsts[ranked[0][0]] += 1
            sel = select(s, threshold, cap)
            written.update(sel)
            zero += not sel
        f = ", ".join(f"{display.get(t, t)} ({c})" for t, c in firsts.most_common(3))
        w = ", ".join(f"{display.get(t, t)} {100 * c / n:.0f}" for t, c in
                      sorted(written.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
        row = f"| {src} | {n} | {f} | {w} | {zero} |"
        if mood_per_source:
            mw = Counter()
            for s in mood_per_source[src]:
                mw.update(select(s, mood_threshold, mood_cap))
            row += " " + (", ".join(f"{display.get(t, t)} {100 * c / n:.0f}" for t, c in
                                    sorted(mw.items(), key=lambda kv: (-kv[1], kv[0]))[:4]) or "-") + " |"
        print(row)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsonl", nargs="+")
    ap.add_argument("--manifest", default="models/msd-musicnn/manifest.json")
    ap.add_argument("--sources", help="TSV of path<TAB>source")
    ap.add_argument("--min-duration", type=float, default=30.0)
    ap.add_argument("--genre-threshold", type=float, default=0.1)
    ap.add_argument("--max-genres", type=int, default=3)
    ap.add_argument("--mood-threshold", type=float, default=0.1)
    ap.add_argument("--max-moods", type=int, default=2)
    args = ap.parse_args()

    with open(args.manifest, encoding="utf-8") as f:
        manifest = json.load(f)
    genres = manifest["groups"]["genre"]
    moods = manifest["groups"]["mood"]
    display = dict(zip(manifest["labels"], manifest["display_names"]))

    tracks = load(args.jsonl, args.min_duration)
    source_of = {}
    if args.sources:
        with open(args.sources, encoding="utf-8") as f:
            for line in f:
                if "\t" in line:
                    p, s = line.rstrip("\n").split("\t", 1)
                    source_of[p] = s
    src = lambda t: source_of.get(t["path"], os.path.basename(os.path.dirname(t["path"])))

    G = [group_scores(t, genres) for t in tracks]
    GM = [group_scores(t, genres, GENRE_MERGES) for t in tracks]
    M = [group_scores(t, moods) for t in tracks]
    print(f"# {len(tracks)} tracks of at least {args.min_duration:.0f} s, "
          f"{len(set(map(src, tracks)))} sources; {len(genres)} genre labels, {len(moods)} mood labels")
    counts = Counter(map(src, tracks))
    print("\n| source | tracks |\n|---|---|")
    for s in sorted(counts):
        print(f"| {s} | {counts[s]} |")

    gt, gc, mt, mc = args.genre_threshold, args.max_genres, args.mood_threshold, args.max_moods

    table_topk("Genres", G)
    table_coverage("Genres", G, CAPS)
    table_coverage("Genres, near-synonyms merged", GM, CAPS)
    table_fraction("Genres, near-synonyms merged", GM, gt, gc)
    table_label_rates("Genres", G, gt, gc, display)
    table_label_rates("Genres, near-synonyms merged", GM, gt, gc, display)
    table_correlation(G, [("electronic", "electronica"), ("electronic", "electro"),
                          ("electronica", "electro"), ("indie", "alternative"),
                          ("indie", "indie rock"), ("alternative", "alternative rock"),
                          ("indie rock", "alternative rock"), ("indie", "indie pop"),
                          ("metal", "heavy metal"), ("metal", "hard rock"),
                          ("ambient", "chillout"), ("ambient", "experimental")])

    table_topk("Moods", M)
    table_coverage("Moods", M, [1, 2, 3])
    table_fraction("Moods", M, mt, mc)
    table_label_rates("Moods", M, mt, mc, display)

    per_source = defaultdict(list)
    mood_per_source = defaultdict(list)
    for t, s, m in zip(tracks, GM, M):
        per_source[src(t)].append(s)
        mood_per_source[src(t)].append(m)
    table_sources(per_source, gt, gc, display, mood_per_source, mt, mc)


if __name__ == "__main__":
    main()
