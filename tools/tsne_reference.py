#!/usr/bin/env python3
"""Compare genred's t-SNE with openTSNE and scikit-learn on the same features.

Synthetic features (the default): for each N, deterministic 200-d vectors shaped like genred's
embeddings (a mixture of 15 Gaussian clusters of varied size and spread). Real features
(`--real FILE`): the stored embeddings of a genred library database (SQLite, the
`analysis.embedding` blobs, little-endian float32), or a matrix file as `genred map
--bench-input` reads it; every track, or the first N by path for each N in `--real-sizes`.

Each implementation embeds the same float32 matrix with its own defaults at the same perplexity
(genred through `genred map --bench-input FILE --out FILE`; openTSNE's `TSNE().fit`;
scikit-learn's `TSNE().fit_transform`, left out above `--sklearn-limit` points, where it takes
hours on two cores). One table follows: time (genred: embedding only, neighbour search
included; the others: the fit call), each implementation's own KL where it reports one, KL
recomputed here for all from the output coordinates with one shared affinity matrix (openTSNE's
exact-neighbour P at the perplexity genred used; N <= `--exact-kl-limit`), and
trustworthiness at k = 5 and k = 10 (on a `--trust-subsample` subsample above that size).
With several `--seeds` (and, for synthetic data, several `--data-seeds`: one data set each), every
figure is the mean over all runs.

    python3 -m venv venv && venv/bin/pip install openTSNE scikit-learn numpy
    swift build -c release --product genred
    venv/bin/python tools/tsne_reference.py --genred ".build/release/genred map" --sizes 40,1000,10000
    venv/bin/python tools/tsne_reference.py --genred ".build/release/genred map" --real library.sqlite
"""
import argparse
import json
import os
import shlex
import sqlite3
import struct
import subprocess
import sys
import time

import numpy as np


def features(n, dims=200, clusters=15, seed=0):
    """A mixture of Gaussian clusters with varied weights and spreads, as float32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(clusters, dims))
    spreads = rng.uniform(0.25, 0.9, size=clusters)
    weights = rng.dirichlet(np.full(clusters, 2.0))
    labels = rng.choice(clusters, size=n, p=weights)
    x = centres[labels] + rng.normal(size=(n, dims)) * spreads[labels, None]
    return x.astype(np.float32), labels


def write_matrix(path, x):
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", x.shape[0], x.shape[1]))
        f.write(np.ascontiguousarray(x, dtype="<f4").tobytes())


def read_matrix(path):
    with open(path, "rb") as f:
        n, d = struct.unpack("<ii", f.read(8))
        return np.frombuffer(f.read(4 * n * d), dtype="<f4").reshape(n, d).astype(np.float64)


def real_features(path, model=None):
    """Embeddings from a genred SQLite library (ordered by path) or a --bench-input matrix file."""
    with open(path, "rb") as f:
        is_sqlite = f.read(16) == b"SQLite format 3\x00"
    if not is_sqlite:
        return read_matrix(path).astype(np.float32), os.path.basename(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    if model is None:
        row = db.execute("SELECT model FROM analysis GROUP BY model ORDER BY count(*) DESC, model LIMIT 1").fetchone()
        if row is None:
            sys.exit(f"{path}: no analysed tracks")
        model = row[0]
    rows = db.execute("SELECT a.embedding FROM analysis a JOIN track t ON t.id = a.track_id "
                      "WHERE a.model = ? ORDER BY t.path", (model,)).fetchall()
    db.close()
    vectors = [np.frombuffer(blob, dtype="<f4") for (blob,) in rows]
    size = max((len(v) for v in vectors), default=0)
    vectors = [v for v in vectors if len(v) == size and size > 0]
    if not vectors:
        sys.exit(f"{path}: no embeddings for model {model}")
    return np.stack(vectors).astype(np.float32), f"{os.path.basename(path)} ({model})"


def shared_affinities(x, perplexity):
    """openTSNE's symmetric P on exact 3·perplexity nearest neighbours."""
    from openTSNE.affinity import PerplexityBasedNN
    return PerplexityBasedNN(x, perplexity=perplexity, method="exact", n_jobs=2, random_state=0,
                             verbose=False).P.tocsr()


def kl_divergence(p, y, block=2048):
    """Exact KL(P||Q) of embedding y for a sparse joint P summing to 1."""
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    sq = (y * y).sum(1)
    z = 0.0
    for s in range(0, n, block):
        d2 = np.maximum(sq[s:s + block, None] + sq[None, :] - 2 * y[s:s + block] @ y.T, 0.0)
        z += (1.0 / (1.0 + d2)).sum() - min(block, n - s)  # drop the diagonal (w_ii = 1)
    coo = p.tocoo()
    keep = coo.data > 0
    i, j, v = coo.row[keep], coo.col[keep], coo.data[keep]
    d2 = ((y[i] - y[j]) ** 2).sum(1)
    v = v / v.sum()
    return float(np.sum(v * (np.log(v) + np.log1p(d2))) + np.log(z))


def trust(x, y, k, subsample, seed=0):
    from sklearn.manifold import trustworthiness
    if x.shape[0] > subsample:
        idx = np.random.default_rng(seed).choice(x.shape[0], subsample, replace=False)
        x, y = x[idx], y[idx]
    if k >= x.shape[0] / 2:
        return None
    return float(trustworthiness(x, y, n_neighbors=k))


def run_genred(args, x, n, seed, workdir):
    src = os.path.join(workdir, f"features-{n}.bin")
    out = os.path.join(workdir, f"genred-{n}-{seed}.bin")
    write_matrix(src, x)
    cmd = shlex.split(args.genred) + ["--bench-input", src, "--out", out, "--perplexity", str(args.perplexity),
                                      "--seed", str(seed)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return read_matrix(out), report["seconds"], report["kl"], report


def run_opentsne(args, x, seed):
    from openTSNE import TSNE
    t0 = time.perf_counter()
    emb = TSNE(perplexity=args.perplexity, n_jobs=args.threads or os.cpu_count() or 1, random_state=seed,
               verbose=False).fit(x.astype(np.float64))
    return np.asarray(emb), time.perf_counter() - t0, float(emb.kl_divergence)


def run_sklearn(args, x, seed):
    from sklearn.manifold import TSNE
    # scikit-learn refuses a perplexity of N or more; below that it keeps the one asked for.
    perplexity = min(args.perplexity, x.shape[0] - 1)
    t0 = time.perf_counter()
    model = TSNE(perplexity=perplexity, random_state=seed, n_jobs=args.threads)
    y = model.fit_transform(x.astype(np.float64))
    return y, time.perf_counter() - t0, float(model.kl_divergence_)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genred", default="genred map", help="command that accepts --bench-input/--out")
    ap.add_argument("--sizes", default="40,1000,10000", help="synthetic sizes (ignored with --real)")
    ap.add_argument("--real", metavar="FILE", help="a genred library database or a --bench-input matrix")
    ap.add_argument("--model", help="with --real: the analysis model (default: the one with most tracks)")
    ap.add_argument("--real-sizes", default="", help="with --real: use the first N tracks for each N (default: all)")
    ap.add_argument("--perplexity", type=float, default=30.0)
    ap.add_argument("--seeds", default="1", help="comma-separated seeds; figures are means over them")
    ap.add_argument("--data-seeds", default="0",
                    help="synthetic data sets per size (comma-separated seeds); figures are means over them")
    ap.add_argument("--threads", type=int, default=None,
                    help="workers for every implementation (default: every core; passed to genred only when given)")
    ap.add_argument("--implementations", default="genred,openTSNE,sklearn")
    ap.add_argument("--sklearn-limit", type=int, default=20000, help="largest N given to scikit-learn")
    ap.add_argument("--workdir", default="/tmp/genred-tsne-bench")
    ap.add_argument("--exact-kl-limit", type=int, default=10000)
    ap.add_argument("--trust-subsample", type=int, default=5000)
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = ap.parse_args()

    import openTSNE
    import sklearn

    os.makedirs(args.workdir, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = set(args.implementations.split(","))
    inputs = []
    if args.real:
        x_all, label = real_features(args.real, args.model)
        sizes = [int(s) for s in args.real_sizes.split(",") if s] or [x_all.shape[0]]
        for n in sizes:
            if n > x_all.shape[0]:
                print(f"# {label}: only {x_all.shape[0]} tracks, {n} skipped", file=sys.stderr)
                continue
            inputs.append((n, [x_all[:n]], label))
    else:
        data_seeds = [int(s) for s in args.data_seeds.split(",")]
        label = "synthetic" if data_seeds == [0] else f"synthetic×{len(data_seeds)}"
        inputs = [(n, [features(n, seed=s)[0] for s in data_seeds], label) for n in (int(s) for s in args.sizes.split(","))]

    rows = []
    for n, xs, label in inputs:
        per_impl = {}
        # Every implementation here lowers a perplexity above (N - 1) / 3 to that, except scikit-learn.
        perplexity_used = min(args.perplexity, max(1.0, (n - 1) / 3))
        for x, seed in ((x, seed) for x in xs for seed in seeds):
            results = []
            if "genred" in wanted:
                y, secs, own, report = run_genred(args, x, n, seed, args.workdir)
                perplexity_used = report.get("perplexity", args.perplexity)
                if report.get("note") and seed == seeds[0] and x is xs[0]:
                    print(f"# N={n}: genred: {report['note']}", file=sys.stderr)
                if report.get("phases"):
                    phases = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(report["phases"].items(), key=lambda kv: -kv[1]))
                    print(f"# N={n} seed {seed}: genred {secs:.2f} s: {phases}", file=sys.stderr)
                results.append(("genred", y, secs, own))
            if "openTSNE" in wanted:
                results.append((f"openTSNE {openTSNE.__version__}",) + run_opentsne(args, x, seed))
            if "sklearn" in wanted:
                if n <= args.sklearn_limit:
                    results.append((f"sklearn {sklearn.__version__}",) + run_sklearn(args, x, seed))
                elif seed == seeds[0]:
                    print(f"# N={n}: scikit-learn left out (above --sklearn-limit {args.sklearn_limit})",
                          file=sys.stderr)
            p = shared_affinities(x.astype(np.float64), perplexity_used) if n <= args.exact_kl_limit else None
            for name, y, secs, own in results:
                per_impl.setdefault(name, []).append(dict(
                    seconds=secs, own_kl=own, shared_kl=kl_divergence(p, y) if p is not None else None,
                    trust5=trust(x, y, 5, args.trust_subsample), trust10=trust(x, y, 10, args.trust_subsample)))
        for name, runs in per_impl.items():
            def mean(key):
                values = [r[key] for r in runs if r[key] is not None]
                return float(np.mean(values)) if values else None
            rows.append(dict(n=n, data=label, method=name, runs=len(runs), seconds=mean("seconds"),
                             own_kl=mean("own_kl"), shared_kl=mean("shared_kl"), trust5=mean("trust5"),
                             trust10=mean("trust10"), perplexity=perplexity_used))

    def fmt(v, spec):
        return format(v, spec) if v is not None else "-"

    print(f"{'N':>6}  {'data':<12} {'method':<16} {'time (s)':>9} {'KL (own)':>9} {'KL (shared)':>11} "
          f"{'trust@5':>8} {'trust@10':>8}")
    for r in rows:
        print(f"{r['n']:>6}  {r['data'][:12]:<12} {r['method']:<16} {fmt(r['seconds'], '9.2f')} "
              f"{fmt(r['own_kl'], '9.4f')} {fmt(r['shared_kl'], '11.4f')} {fmt(r['trust5'], '8.4f')} "
              f"{fmt(r['trust10'], '8.4f')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
