"""Helpers shared by the tools that read the original musicnn package.

The pretrained musicnn models (Jordi Pons, Music Technology Group, Universitat
Pompeu Fabra; ISC license) ship inside the `musicnn` 0.1.0 wheel on PyPI. Its
pinned dependencies no longer install, so fetch the wheel and unpack it:

    pip download --no-deps musicnn==0.1.0 -d /tmp/mnn
    python3 -m zipfile -e /tmp/mnn/musicnn-0.1.0-py3-none-any.whl /tmp/mnn/wheel

and pass `--musicnn /tmp/mnn/wheel/musicnn` (or set MUSICNN_DIR) to the tools.
"""

import importlib.util
import os
import sys

PACKAGE_VERSION = "0.1.0"
MODELS = ("MSD_musicnn", "MTT_musicnn")

HOWTO = (
    "musicnn package not found. Get it with:\n"
    "  pip download --no-deps musicnn==0.1.0 -d /tmp/mnn\n"
    "  python3 -m zipfile -e /tmp/mnn/musicnn-0.1.0-py3-none-any.whl /tmp/mnn/wheel\n"
    "then pass --musicnn /tmp/mnn/wheel/musicnn (or set MUSICNN_DIR)."
)


def locate(path=None):
    """Return the musicnn package folder: `path`, $MUSICNN_DIR or the importable one."""
    candidates = []
    if path:
        candidates.append(path)
    elif os.environ.get("MUSICNN_DIR"):
        candidates.append(os.environ["MUSICNN_DIR"])
    else:
        spec = importlib.util.find_spec("musicnn")  # does not execute the package
        if spec is not None and spec.submodule_search_locations:
            candidates.extend(spec.submodule_search_locations)
    for folder in candidates:
        folder = os.path.abspath(folder)
        if os.path.isfile(os.path.join(folder, "configuration.py")) and os.path.isfile(
            os.path.join(folder, "MSD_musicnn", ".index")
        ):
            return folder
    sys.exit(HOWTO)


def checkpoint_prefix(package_dir, model):
    """The checkpoint prefix is the model folder itself (files '.index', '.data-*')."""
    return os.path.join(package_dir, model) + "/"


def load_configuration(package_dir):
    """Load musicnn/configuration.py (plain constants) without importing the package."""
    spec = importlib.util.spec_from_file_location(
        "musicnn_configuration", os.path.join(package_dir, "configuration.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def labels(package_dir, model):
    config = load_configuration(package_dir)
    return list(config.MSD_LABELS if model.startswith("MSD") else config.MTT_LABELS)


def is_optimizer_variable(name):
    """Adam slots and beta powers are training state, not model weights."""
    return "Adam" in name or "power" in name


def read_checkpoint(package_dir, model):
    """Return {variable name: float32 array} for the model's weights (no optimizer state)."""
    import tensorflow as tf  # imported lazily: slow, and only some callers need it

    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint_prefix(package_dir, model))
    return {
        name: reader.get_tensor(name)
        for name in sorted(reader.get_variable_to_shape_map())
        if not is_optimizer_variable(name)
    }


def import_models_module(package_dir):
    """Import the original musicnn/models.py (it imports `musicnn.configuration`)."""
    parent = os.path.dirname(os.path.abspath(package_dir))
    if parent not in sys.path:
        sys.path.insert(0, parent)
    from musicnn import models  # noqa: E402

    if os.path.dirname(os.path.abspath(models.__file__)) != os.path.abspath(package_dir):
        sys.exit(f"imported musicnn from {models.__file__}, expected {package_dir}")
    return models
