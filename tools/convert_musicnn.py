#!/usr/bin/env python3
"""Convert the published musicnn checkpoints into genred model bundles.

    python3 tools/convert_musicnn.py [--musicnn PATH/TO/musicnn] [--out models]

Reads the TF1 checkpoints MSD_musicnn and MTT_musicnn from the musicnn 0.1.0
package (see tools/musicnn_source.py for how to get it) and writes, per model,
models/<name>/{manifest.json, weights.safetensors, LICENSE}. The output is
byte-for-byte reproducible.
"""

import argparse
import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import musicnn_source  # noqa: E402
import safetensors_io  # noqa: E402

EXPECTED_PARAMETERS = 792079

# Bundle tensor name -> checkpoint variable scope. Layer order follows
# musicnn/models.py (build_musicnn): the TF1 layers are numbered in creation
# order, i.e. input BN; timbral 7x38 then 7x67; temporal 128, 64, 32;
# three mid-end convs; pooled-feature BN; dense 200 + BN; dense 50.
CONVS = [
    # (bundle prefix, conv scope, batch-norm scope, kernel shape [time, freq, in, out])
    ("timbral.0", "conv2d", "batch_normalization_1", [7, 38, 1, 204]),
    ("timbral.1", "conv2d_1", "batch_normalization_2", [7, 67, 1, 204]),
    ("temporal.0", "conv2d_2", "batch_normalization_3", [128, 1, 1, 51]),
    ("temporal.1", "conv2d_3", "batch_normalization_4", [64, 1, 1, 51]),
    ("temporal.2", "conv2d_4", "batch_normalization_5", [32, 1, 1, 51]),
    ("midend.0", "conv2d_5", "batch_normalization_6", [7, 561, 1, 64]),
    ("midend.1", "conv2d_6", "batch_normalization_7", [7, 64, 1, 64]),
    ("midend.2", "conv2d_7", "batch_normalization_8", [7, 64, 1, 64]),
]
BATCH_NORMS = [
    # (bundle prefix, batch-norm scope, size)
    ("input_bn", "batch_normalization", 1),
    ("backend.pool_bn", "batch_normalization_9", 1506),
    ("backend.dense_bn", "batch_normalization_10", 200),
]
DENSES = [
    ("backend.dense", "dense", [1506, 200]),
    ("backend.logits", "dense_1", [200, 50]),
]
BN_PARTS = {"gamma": "gamma", "beta": "beta", "mean": "moving_mean", "variance": "moving_variance"}


def tensor_map():
    """Return [(bundle name, checkpoint variable, expected shape)]."""
    entries = []

    def add_bn(prefix, scope, size):
        for part, var in BN_PARTS.items():
            entries.append((f"{prefix}.{part}", f"{scope}/{var}", [size]))

    add_bn(*BATCH_NORMS[0])
    for prefix, conv, bn, shape in CONVS:
        entries.append((f"{prefix}.conv.kernel", f"{conv}/kernel", shape))
        entries.append((f"{prefix}.conv.bias", f"{conv}/bias", [shape[-1]]))
        add_bn(f"{prefix}.bn", bn, shape[-1])
    add_bn(*BATCH_NORMS[1])
    add_bn(*BATCH_NORMS[2])
    for prefix, scope, shape in DENSES:
        entries.append((f"{prefix}.kernel", f"{scope}/kernel", shape))
        entries.append((f"{prefix}.bias", f"{scope}/bias", [shape[-1]]))
    return entries


# ---------------------------------------------------------------------------
# Label metadata

MSD_DISPLAY = {
    "rock": "Rock", "pop": "Pop", "alternative": "Alternative", "indie": "Indie",
    "electronic": "Electronic", "female vocalists": "Female Vocals", "dance": "Dance",
    "00s": "2000s", "alternative rock": "Alternative Rock", "jazz": "Jazz",
    "beautiful": "Beautiful", "metal": "Metal", "chillout": "Chillout",
    "male vocalists": "Male Vocals", "classic rock": "Classic Rock", "soul": "Soul",
    "indie rock": "Indie Rock", "Mellow": "Mellow", "electronica": "Electronica",
    "80s": "1980s", "folk": "Folk", "90s": "1990s", "chill": "Chill",
    "instrumental": "Instrumental", "punk": "Punk", "oldies": "Oldies", "blues": "Blues",
    "hard rock": "Hard Rock", "ambient": "Ambient", "acoustic": "Acoustic",
    "experimental": "Experimental", "female vocalist": "Female Vocalist", "guitar": "Guitar",
    "Hip-Hop": "Hip-Hop", "70s": "1970s", "party": "Party", "country": "Country",
    "easy listening": "Easy Listening", "sexy": "Sexy", "catchy": "Catchy", "funk": "Funk",
    "electro": "Electro", "heavy metal": "Heavy Metal", "Progressive rock": "Progressive Rock",
    "60s": "1960s", "rnb": "R&B", "indie pop": "Indie Pop", "sad": "Sad", "House": "House",
    "happy": "Happy",
}
MSD_GROUPS = {
    "mood": ["beautiful", "Mellow", "chill", "party", "sexy", "catchy", "sad", "happy"],
    "era": ["00s", "80s", "90s", "70s", "60s", "oldies"],
    "vocals": ["female vocalists", "male vocalists", "female vocalist", "instrumental"],
    "instrument": ["acoustic", "guitar"],
}  # every other MSD label is a genre

MTT_DISPLAY_SPECIAL = {"new age": "New Age"}  # the rest: plain title case
MTT_GROUPS = {
    "genre": ["classical", "techno", "electronic", "rock", "ambient", "indian", "opera", "pop",
              "classic", "new age", "dance", "country", "metal", "choral"],
    "mood": ["slow", "fast", "loud", "quiet", "soft", "weird"],
    "era": [],
    "vocals": ["vocal", "female", "male", "singing", "vocals", "no vocals", "woman", "male vocal",
               "no vocal", "man", "voice", "male voice", "female vocal", "no voice", "female voice"],
    "instrument": ["guitar", "strings", "drums", "piano", "violin", "synth", "harpsichord", "flute",
                   "sitar", "harp", "cello", "beat", "beats", "choir", "solo"],
}
GROUP_ORDER = ["genre", "mood", "era", "vocals", "instrument"]


def label_metadata(model, labels):
    """Return (display_names, groups) for the model's labels, checked for completeness."""
    if model.startswith("MSD"):
        display = [MSD_DISPLAY[label] for label in labels]
        placed = {g: set(v) for g, v in MSD_GROUPS.items()}
        other = set().union(*placed.values())
        placed["genre"] = {label for label in labels if label not in other}
    else:
        display = [MTT_DISPLAY_SPECIAL.get(label, label.title()) for label in labels]
        placed = {g: set(v) for g, v in MTT_GROUPS.items()}

    # Each label in exactly one group; groups listed in label order.
    for label in labels:
        owners = [g for g in GROUP_ORDER if label in placed[g]]
        assert len(owners) == 1, f"{model}: label {label!r} is in groups {owners}"
    assert sum(len(v) for v in placed.values()) == len(labels), f"{model}: unknown label in groups"
    assert len(set(display)) == len(display), f"{model}: display names are not unique"
    groups = {g: [label for label in labels if label in placed[g]] for g in GROUP_ORDER}
    return display, groups


# ---------------------------------------------------------------------------
# Bundle contents

BUNDLES = {
    "MSD_musicnn": ("msd-musicnn", "musicnn trained on the Million Song Dataset (50 Last.fm tags)"),
    "MTT_musicnn": ("mtt-musicnn", "musicnn trained on MagnaTagATune (50 tags)"),
}

# The license of the musicnn package (LICENSE.md in its wheel), reproduced verbatim.
MUSICNN_LICENSE = """\
Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. Code developed by Jordi Pons (www.jordipons.me).

Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby granted, provided that the above copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""


def license_text(package_dir, model):
    # Cross-check against the wheel's own copy when it is next to the package.
    shipped = os.path.join(os.path.dirname(package_dir), f"musicnn-{musicnn_source.PACKAGE_VERSION}.dist-info", "LICENSE.md")
    if os.path.isfile(shipped):
        with open(shipped, encoding="utf-8") as f:
            if f.read().strip() != MUSICNN_LICENSE.strip():
                print(f"warning: {shipped} differs from the embedded license text", file=sys.stderr)
    return (
        f"The weights in this directory are converted from the {model} checkpoint of the\n"
        f"musicnn {musicnn_source.PACKAGE_VERSION} package (https://github.com/jordipons/musicnn),\n"
        "by Jordi Pons and Xavier Serra, distributed under the ISC license:\n\n" + MUSICNN_LICENSE
    )


def convert(package_dir, model, out_root):
    name, description = BUNDLES[model]
    variables = musicnn_source.read_checkpoint(package_dir, model)

    tensors = {}
    used = []
    for bundle_name, var, shape in tensor_map():
        assert var in variables, f"{model}: checkpoint has no variable {var}"
        value = variables[var]
        assert list(value.shape) == shape, f"{var}: shape {list(value.shape)} != {shape}"
        assert value.dtype == np.float32, f"{var}: dtype {value.dtype}"
        assert np.all(np.isfinite(value)), f"{var}: non-finite values"
        tensors[bundle_name] = value
        used.append(var)
    assert len(used) == len(set(used)), "a checkpoint variable is mapped twice"
    unused = sorted(set(variables) - set(used))
    assert not unused, f"{model}: unmapped checkpoint variables {unused}"
    parameters = sum(int(v.size) for v in tensors.values())
    assert parameters == EXPECTED_PARAMETERS, f"{model}: {parameters} parameters"

    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    weights_path = os.path.join(out_dir, "weights.safetensors")
    safetensors_io.write(weights_path, tensors, {
        "name": name,
        "source": f"musicnn {musicnn_source.PACKAGE_VERSION} {model}",
        "license": "ISC",
    })
    with open(weights_path, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()

    # Round-trip check of the written file.
    back, _ = safetensors_io.read(weights_path)
    assert sorted(back) == sorted(tensors)
    assert all(np.array_equal(back[k], tensors[k]) for k in tensors)

    labels = musicnn_source.labels(package_dir, model)
    assert len(labels) == 50 and len(set(labels)) == 50
    display, groups = label_metadata(model, labels)
    manifest = {
        "format": "genred-model-bundle",
        "format_version": 1,
        "name": name,
        "version": "1.0",
        "architecture": "musicnn",
        "description": description,
        "source": {
            "package": "musicnn",
            "package_version": musicnn_source.PACKAGE_VERSION,
            "checkpoint": model,
            "authors": "Jordi Pons, Xavier Serra",
            "copyright": "Music Technology Group, Universitat Pompeu Fabra 2019",
            "license": "ISC",
            "url": "https://github.com/jordipons/musicnn",
            "paper": "Pons & Serra, musicnn: pre-trained convolutional neural networks for music audio tagging, ISMIR 2019 LBD",
        },
        "audio": {
            "sample_rate": 16000,
            "n_fft": 512,
            "hop_length": 256,
            "window": "hann",
            "center": True,
            "n_mels": 96,
            "fmin": 0.0,
            "fmax": 8000.0,
            "mel_scale": "slaney",
            "mel_norm": "slaney",
            "power": 2.0,
            "compression": "log10(10000*x+1)",
        },
        "window": {"frames": 187, "default_hop_frames": 187},
        "batch_norm_epsilon": 0.001,
        "labels": labels,
        "display_names": display,
        "groups": groups,
        "weights": {
            "file": "weights.safetensors",
            "sha256": sha256,
            "parameters": parameters,
            "dtype": "float32",
        },
    }
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(out_dir, "LICENSE"), "w", encoding="utf-8") as f:
        f.write(license_text(package_dir, model))

    size = os.path.getsize(weights_path)
    print(f"{out_dir}: {len(tensors)} tensors, {parameters} parameters, {size} bytes, sha256 {sha256}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--musicnn", help="path of the unpacked musicnn package folder")
    parser.add_argument("--out", default="models", help="output root (default: models)")
    args = parser.parse_args()
    package_dir = musicnn_source.locate(args.musicnn)
    for model in musicnn_source.MODELS:
        convert(package_dir, model, args.out)


if __name__ == "__main__":
    main()
