#!/usr/bin/env python3
"""Time the original musicnn pipeline (librosa features, TensorFlow model) on audio files.

    python3 tools/bench_original.py [--musicnn PATH/TO/musicnn] [--mode batched|extractor] FILE...

Runs the original code from the musicnn 0.1.0 package (see tools/musicnn_source.py for
how to get it) with the MSD_musicnn model, the same work genred does per file: decode
and resample to 16 kHz, log-mel spectrogram, 3-second windows, tag probabilities and the
penultimate (embedding) layer.

  batched    musicnn's own batch_data() (librosa.load, melspectrogram, the float16 cast,
             non-overlapping windows), then one session run over all of a file's windows;
             the graph is built and restored once, before timing. The faster of the two
             ways and the one genred is compared with.
  extractor  musicnn.extractor.extractor(file, model="MSD_musicnn", extract_features=False)
             as published: it builds the graph and restores the checkpoint for every
             file and runs one window at a time (its BATCH_SIZE is 1).

Prints one line per file and a total line:
  original <mode>: <seconds> s for <audio seconds> s of audio, <factor>x realtime
"""

import argparse
import os
import sys
import time
import warnings

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # musicnn uses tf.compat.v1.layers
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import musicnn_source  # noqa: E402

MODEL = "MSD_musicnn"
WINDOW_FRAMES = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1, as the extractor


def duration(path):
    import soundfile

    info = soundfile.info(path)
    return info.frames / info.samplerate


def warm_up_librosa():
    """Runs musicnn's feature code once on a short generated clip."""
    import tempfile

    import numpy as np
    import soundfile
    from musicnn.extractor import batch_data

    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        t = np.arange(5 * 44100) / 44100
        soundfile.write(f.name, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100, format="WAV")
        batch_data(f.name, WINDOW_FRAMES, WINDOW_FRAMES)


def batched(package_dir, files):
    import numpy as np
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    models = musicnn_source.import_models_module(package_dir)
    from musicnn.extractor import batch_data

    graph = tf.Graph()
    with graph.as_default():
        with tf.compat.v1.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, WINDOW_FRAMES, 96])
            is_training = tf.compat.v1.placeholder(tf.bool)
            outputs = models.define_model(x, is_training, MODEL, 50)
            probabilities, penultimate = tf.nn.sigmoid(outputs[0]), outputs[-1]
        saver = tf.compat.v1.train.Saver()
    sess = tf.compat.v1.Session(graph=graph)
    saver.restore(sess, musicnn_source.checkpoint_prefix(package_dir, MODEL))
    # Warm-up, so that one-time costs are not timed: TensorFlow's first run, and librosa's
    # first load (its numba functions compile then).
    warm_up_librosa()
    sess.run([probabilities, penultimate],
             feed_dict={x: np.zeros((2, WINDOW_FRAMES, 96), np.float32), is_training: False})

    def run(path):
        batch, _ = batch_data(path, WINDOW_FRAMES, WINDOW_FRAMES)
        probs, emb = sess.run([probabilities, penultimate], feed_dict={x: batch, is_training: False})
        return probs.shape[0]

    return run


def extractor(package_dir, files):
    parent = os.path.dirname(os.path.abspath(package_dir))
    if parent not in sys.path:
        sys.path.insert(0, parent)
    import contextlib
    import io

    from musicnn.extractor import extractor as original

    warm_up_librosa()  # as in batched mode; TensorFlow's set-up is part of every extractor() call

    def run(path):
        with contextlib.redirect_stdout(io.StringIO()):  # it prints progress
            taggram, _ = original(path, model=MODEL, extract_features=False)
        return taggram.shape[0]

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--musicnn", help="path of the unpacked musicnn package folder")
    parser.add_argument("--mode", choices=["batched", "extractor"], default="batched")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    package_dir = musicnn_source.locate(args.musicnn)

    run = (batched if args.mode == "batched" else extractor)(package_dir, args.files)
    total_seconds = total_audio = 0.0
    total_windows = 0
    for path in args.files:
        audio = duration(path)
        start = time.perf_counter()
        windows = run(path)
        seconds = time.perf_counter() - start
        total_seconds += seconds
        total_audio += audio
        total_windows += windows
        print(f"  {os.path.basename(path):24} {audio:7.1f} s audio, {windows:4} windows, {seconds:7.3f} s, "
              f"{audio / seconds:6.1f}x realtime", flush=True)
    print(f"original {args.mode}: {total_seconds:.3f} s for {total_audio:.1f} s of audio ({total_windows} windows), "
          f"{total_audio / total_seconds:.1f}x realtime")


if __name__ == "__main__":
    main()
