#!/usr/bin/env python3
"""Compare genred's t-SNE with openTSNE on the same synthetic features.

For each N it writes deterministic features shaped like genred's (200-d embeddings drawn from a
mixture of 15 Gaussian clusters of varied size and spread), embeds them with genred
(`genred map --bench-input FILE --out FILE`, or any command taking those arguments) and with
openTSNE at the same perplexity, then prints one table: time, each implementation's own KL,
KL recomputed here for both from the output coordinates and one shared affinity matrix
(N <= 10k), and trustworthiness (k = 10; on a 5k subsample above 10k points).

    pip install openTSNE scikit-learn
    python3 tools/tsne_reference.py --genred ".build/release/genred map" --sizes 1000,10000,50000
"""
import argparse
import json
import os
import shlex
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


def shared_affinities(x, perplexity):
    """openTSNE's symmetric P on exact 3·perplexity nearest neighbours."""
    from openTSNE.affinity import PerplexityBasedNN
    return PerplexityBasedNN(x, perplexity=perplexity, method="exact", n_jobs=2, random_state=0).P.tocsr()


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


def trust(x, y, subsample, seed=0):
    from sklearn.manifold import trustworthiness
    if x.shape[0] > subsample:
        idx = np.random.default_rng(seed).choice(x.shape[0], subsample, replace=False)
        x, y = x[idx], y[idx]
    return float(trustworthiness(x, y, n_neighbors=10))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genred", default="genred map", help="command that accepts --bench-input/--out")
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--perplexity", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None,
                    help="workers for both sides (default: every core; passed to genred only when given)")
    ap.add_argument("--workdir", default="/tmp/genred-tsne-bench")
    ap.add_argument("--exact-kl-limit", type=int, default=10000)
    ap.add_argument("--trust-subsample", type=int, default=5000)
    args = ap.parse_args()

    import openTSNE
    from openTSNE import TSNE

    os.makedirs(args.workdir, exist_ok=True)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        x, _ = features(n)
        src = os.path.join(args.workdir, f"features-{n}.bin")
        out = os.path.join(args.workdir, f"genred-{n}.bin")
        write_matrix(src, x)

        cmd = shlex.split(args.genred) + ["--bench-input", src, "--out", out, "--perplexity", str(args.perplexity),
                                          "--seed", str(args.seed)]
        if args.threads is not None:
            cmd += ["--threads", str(args.threads)]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        report = json.loads(done.stdout.strip().splitlines()[-1])
        y_genred = read_matrix(out)

        t0 = time.perf_counter()
        emb = TSNE(perplexity=args.perplexity, n_jobs=args.threads or os.cpu_count() or 1, random_state=args.seed).fit(x.astype(np.float64))
        ref_time = time.perf_counter() - t0
        y_ref = np.asarray(emb)

        p = shared_affinities(x.astype(np.float64), args.perplexity) if n <= args.exact_kl_limit else None
        for name, y, secs, own in (("genred", y_genred, report["seconds"], report["kl"]),
                                   (f"openTSNE {openTSNE.__version__}", y_ref, ref_time, float(emb.kl_divergence))):
            rows.append(dict(n=n, method=name, seconds=secs, own_kl=own,
                             shared_kl=kl_divergence(p, y) if p is not None else None,
                             trust=trust(x, y, args.trust_subsample)))
        print(f"# N={n}: genred process wall {wall:.1f} s; note: {report.get('note')}", file=sys.stderr)

    print(f"{'N':>6}  {'method':<16} {'time (s)':>9} {'KL (own)':>9} {'KL (shared)':>11} {'trust@10':>9}")
    for r in rows:
        shared = f"{r['shared_kl']:.4f}" if r["shared_kl"] is not None else "-"
        print(f"{r['n']:>6}  {r['method']:<16} {r['seconds']:>9.2f} {r['own_kl']:>9.4f} {shared:>11} {r['trust']:>9.4f}")


if __name__ == "__main__":
    main()
