#!/usr/bin/env python3
"""Run the original musicnn TensorFlow models on the test clips and store golden outputs.

    python3 tools/make_golden.py [--musicnn PATH/TO/musicnn]

For each clip in Tests/GenredKitTests/Fixtures/audio this writes
Tests/GenredKitTests/Fixtures/golden/<clip>.safetensors with float32 tensors
  logmel            [frames, 96]   reference log-mel input
  msd.probs         [W, 50]        MSD_musicnn tag probabilities per window
  msd.penultimate   [W, 200]       MSD_musicnn 200-d embedding per window
  mtt.probs, mtt.penultimate       the same for MTT_musicnn
(clips shorter than one window store only the log-mel). The graph is built
with the original musicnn/models.py and restored explicitly from the
checkpoints. The outputs are then recomputed with tools/numpy_musicnn.py from
the converted bundles in models/ as an independent check.
"""

import argparse
import os
import sys
import warnings

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # musicnn uses tf.compat.v1.layers
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", message=".*is deprecated", category=UserWarning)  # tf.compat.v1.layers

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features  # noqa: E402
import musicnn_source  # noqa: E402
import numpy_musicnn  # noqa: E402
import safetensors_io  # noqa: E402

FIXTURES = os.path.join("Tests", "GenredKitTests", "Fixtures")
CLIPS = ["groove.wav", "ballad.wav", "rock.wav", "groove_44k_stereo.wav", "short.wav"]
MODELS = {"msd": ("MSD_musicnn", "models/msd-musicnn"), "mtt": ("MTT_musicnn", "models/mtt-musicnn")}
FLOAT16_MAX = 65504.0


def run_tensorflow(package_dir, model, batches):
    """Build the original graph, restore `model` and run every batch in `batches`.
    Returns {key: (probabilities, penultimate)}."""
    import tensorflow as tf

    models = musicnn_source.import_models_module(package_dir)
    prefix = musicnn_source.checkpoint_prefix(package_dir, model)
    graph = tf.Graph()
    with graph.as_default():
        with tf.compat.v1.name_scope("model"):  # as in musicnn's extractor
            x = tf.compat.v1.placeholder(tf.float32, [None, features.WINDOW_FRAMES, features.N_MELS])
            is_training = tf.compat.v1.placeholder(tf.bool)
            outputs = models.define_model(x, is_training, model, 50)
            logits, penultimate = outputs[0], outputs[-1]
            probabilities = tf.nn.sigmoid(logits)
        variables = tf.compat.v1.global_variables()
        saver = tf.compat.v1.train.Saver()

    reference = musicnn_source.read_checkpoint(package_dir, model)
    names = sorted(v.op.name for v in variables)
    assert names == sorted(reference), f"graph and checkpoint variables differ: {set(names) ^ set(reference)}"

    results = {}
    with tf.compat.v1.Session(graph=graph) as sess:
        saver.restore(sess, prefix)  # raises if anything is missing
        # Verify the restore: every variable must equal the checkpoint's value.
        for var, value in zip(variables, sess.run(variables)):
            assert np.array_equal(value, reference[var.op.name]), f"{var.op.name} not restored"
        for key, batch in batches.items():
            probs, emb = sess.run([probabilities, penultimate], feed_dict={x: batch, is_training: False})
            results[key] = (probs, emb)
    return results


def versions():
    import librosa
    import scipy
    import soxr
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "librosa": librosa.__version__,
        "soxr": soxr.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "musicnn": musicnn_source.PACKAGE_VERSION,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--musicnn", help="path of the unpacked musicnn package folder")
    args = parser.parse_args()
    package_dir = musicnn_source.locate(args.musicnn)

    audio_dir = os.path.join(FIXTURES, "audio")
    golden_dir = os.path.join(FIXTURES, "golden")
    os.makedirs(golden_dir, exist_ok=True)

    # Features and windows of every clip.
    import soundfile

    clips = {}
    for name in CLIPS:
        info = soundfile.info(os.path.join(audio_dir, name))
        logmel, mel = features.logmel_from_file(os.path.join(audio_dir, name))
        assert np.all(np.isfinite(logmel)), f"{name}: non-finite log-mel"
        # The original's float16 cast overflows where 10000 * mel > 65504.
        overflow = int(np.sum(10000 * mel.astype(np.float16).astype(np.float32) > FLOAT16_MAX))
        clips[name] = dict(info=info, logmel=logmel, windows=features.windows(logmel),
                           mel_max=float(mel.max()), overflow=overflow)

    batches = {name: c["windows"] for name, c in clips.items() if len(c["windows"])}
    tool_versions = versions()
    outputs = {}
    for key, (model, _) in MODELS.items():
        outputs[key] = run_tensorflow(package_dir, model, batches)

    # Independent NumPy forward pass from the converted bundles.
    bundles = {key: numpy_musicnn.Bundle(folder) for key, (_, folder) in MODELS.items()}
    msd_labels = musicnn_source.labels(package_dir, "MSD_musicnn")
    mtt_labels = musicnn_source.labels(package_dir, "MTT_musicnn")
    assert bundles["msd"].labels == msd_labels and bundles["mtt"].labels == mtt_labels

    print(f"{'clip':24} {'sr':>6} {'ch':>2} {'frames':>6} {'win':>3} {'mel max':>8} {'f16 inf':>7} "
          f"{'|np-tf| msd':>11} {'|np-tf| mtt':>11}  top-5 MSD (mean over windows)")
    worst = 0.0
    for name, c in clips.items():
        tensors = {"logmel": c["logmel"]}
        diffs = {}
        if name in batches:
            for key in MODELS:
                probs, emb = outputs[key][name]
                assert np.all(np.isfinite(probs)) and np.all(np.isfinite(emb)), f"{name}: NaN from {key}"
                tensors[f"{key}.probs"] = probs
                tensors[f"{key}.penultimate"] = emb
                np_probs, np_emb = numpy_musicnn.forward(bundles[key], batches[name])
                diffs[key] = float(np.max(np.abs(np_probs - probs)))
                diffs[key + ".penultimate"] = float(np.max(np.abs(np_emb - emb)))
                worst = max(worst, diffs[key])
        metadata = {
            "clip": name,
            "source_sample_rate": str(c["info"].samplerate),
            "source_channels": str(c["info"].channels),
            "window_frames": str(features.WINDOW_FRAMES),
            "window_hop_frames": str(features.WINDOW_HOP),
            "windows": str(len(c["windows"])),
            "features": "librosa.load(sr=16000); melspectrogram(n_fft=512, hop_length=256, n_mels=96); "
                        "log10(10000*mel+1) in float32",
            "models": "msd=MSD_musicnn, mtt=MTT_musicnn (original TensorFlow graph)",
        }
        metadata.update({f"version.{k}": v for k, v in tool_versions.items()})
        safetensors_io.write(os.path.join(golden_dir, os.path.splitext(name)[0] + ".safetensors"), tensors, metadata)

        if name in batches:
            mean = outputs["msd"][name][0].mean(axis=0)
            top = ", ".join(f"{msd_labels[i]} {mean[i]:.2f}" for i in np.argsort(-mean)[:5])
            d = f"{diffs['msd']:11.2e} {diffs['mtt']:11.2e}"
        else:
            top, d = "(shorter than one window: log-mel only)", f"{'-':>11} {'-':>11}"
        print(f"{name:24} {c['info'].samplerate:6} {c['info'].channels:2} {c['logmel'].shape[0]:6} "
              f"{len(c['windows']):3} {c['mel_max']:8.1f} {c['overflow']:7} {d}  {top}")
        if diffs:
            mean = outputs["mtt"][name][0].mean(axis=0)
            top = ", ".join(f"{mtt_labels[i]} {mean[i]:.2f}" for i in np.argsort(-mean)[:5])
            print(f"{'':24} top-5 MTT: {top}")
            print(f"{'':24} penultimate max |np-tf|: msd {diffs['msd.penultimate']:.2e}, "
                  f"mtt {diffs['mtt.penultimate']:.2e}")
    print(f"max |numpy - tensorflow| over all probabilities: {worst:.2e}")
    assert worst < 1e-4, "NumPy forward pass from the bundles disagrees with TensorFlow"


if __name__ == "__main__":
    main()
