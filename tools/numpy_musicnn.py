#!/usr/bin/env python3
"""Reference forward pass of musicnn in plain NumPy, reading a genred model bundle.

Written from the network description (not from the TensorFlow graph) as an
independent check of the converted weights and their tensor names:

    python3 tools/numpy_musicnn.py models/msd-musicnn some.wav

tags a file (mean over 3 s windows) and prints the top labels.
Computations run in float64.
"""

import argparse
import json
import os
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


class Bundle:
    def __init__(self, folder):
        with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
            self.manifest = json.load(f)
        tensors, _ = safetensors_io.read(os.path.join(folder, self.manifest["weights"]["file"]))
        self.w = {k: v.astype(np.float64) for k, v in tensors.items()}
        self.eps = self.manifest["batch_norm_epsilon"]
        self.labels = self.manifest["labels"]

    def bn(self, x, prefix):
        w = self.w
        scale = w[prefix + ".gamma"] / np.sqrt(w[prefix + ".variance"] + self.eps)
        return (x - w[prefix + ".mean"]) * scale + w[prefix + ".beta"]


def pad_time(x, before, after):
    """Zero-pad axis 1 (time) of a [batch, time, ...] array."""
    widths = [(0, 0)] * x.ndim
    widths[1] = (before, after)
    return np.pad(x, widths)


def conv_relu_bn(m, x, prefix):
    """Valid 2-D conv of x [B, T, F] (one input channel) with kernel [kt, kf, 1, C],
    then ReLU and batch norm. Returns [B, T - kt + 1, F - kf + 1, C]."""
    kernel = m.w[prefix + ".conv.kernel"]
    kt, kf, _, c = kernel.shape
    patches = sliding_window_view(x, (kt, kf), axis=(1, 2))  # [B, T', F', kt, kf]
    y = np.tensordot(patches, kernel.reshape(kt, kf, c), axes=([3, 4], [0, 1]))
    y = np.maximum(y + m.w[prefix + ".conv.bias"], 0.0)
    return m.bn(y, prefix + ".bn")


def forward(m, windows):
    """windows: [B, 187, 96] log-mel patches -> (probabilities [B, 50], penultimate [B, 200])."""
    x = m.bn(np.asarray(windows, dtype=np.float64), "input_bn")

    # Front-end. Timbral: pad 3 frames each side, valid conv, max over frequency.
    front = []
    for prefix in ("timbral.0", "timbral.1"):
        front.append(conv_relu_bn(m, pad_time(x, 3, 3), prefix).max(axis=2))
    # Temporal: TF 'same' padding in time ((k-1)//2 before), max over frequency.
    for prefix in ("temporal.0", "temporal.1", "temporal.2"):
        k = m.w[prefix + ".conv.kernel"].shape[0]
        front.append(conv_relu_bn(m, pad_time(x, (k - 1) // 2, k - 1 - (k - 1) // 2), prefix).max(axis=2))
    front = np.concatenate(front, axis=2)  # [B, T, 561]

    # Mid-end: 7-frame convs over all channels, the last two residual.
    c1 = conv_relu_bn(m, pad_time(front, 3, 3), "midend.0")[:, :, 0, :]
    r2 = conv_relu_bn(m, pad_time(c1, 3, 3), "midend.1")[:, :, 0, :] + c1
    r3 = conv_relu_bn(m, pad_time(r2, 3, 3), "midend.2")[:, :, 0, :] + r2
    features = np.concatenate([front, c1, r2, r3], axis=2)  # [B, T, 753]

    # Back-end: max and mean over time, interleaved per channel.
    pooled = np.stack([features.max(axis=1), features.mean(axis=1)], axis=2).reshape(len(x), -1)
    pooled = m.bn(pooled, "backend.pool_bn")
    hidden = np.maximum(pooled @ m.w["backend.dense.kernel"] + m.w["backend.dense.bias"], 0.0)
    penultimate = m.bn(hidden, "backend.dense_bn")
    logits = penultimate @ m.w["backend.logits.kernel"] + m.w["backend.logits.bias"]
    return 1.0 / (1.0 + np.exp(-logits)), penultimate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="model bundle folder, e.g. models/msd-musicnn")
    parser.add_argument("audio", help="audio file")
    args = parser.parse_args()

    import features  # tools/features.py: the reference log-mel front-end

    m = Bundle(args.bundle)
    logmel, _ = features.logmel_from_file(args.audio)
    windows = features.windows(logmel)
    if len(windows) == 0:
        sys.exit("audio shorter than one window")
    probs, _ = forward(m, windows)
    mean = probs.mean(axis=0)
    for i in np.argsort(-mean)[:10]:
        print(f"{mean[i]:.3f}  {m.labels[i]}")


if __name__ == "__main__":
    main()
