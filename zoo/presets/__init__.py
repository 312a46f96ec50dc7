"""The zoo's pretrained presets: one folder per preset in this package (see :mod:`tfgen.presets`).

``zoo.load("iwae_digits_k5_l1")`` returns a compiled model ready to ``evaluate``, ``fit`` or
``sample``; a local folder, a URL or a hub handle works as well. :func:`available` gives every
registered preset's metadata. New presets are made from a run directory with
``tfgen preset RUN --name NAME`` (:mod:`zoo.presets.build`). What a preset's test figure is,
on which test data, and how it samples depends on its family (:mod:`zoo.families`).
"""
import os

from tfgen import presets, runs
from zoo import families

DIRECTORY = os.path.dirname(os.path.abspath(__file__))
presets.register_directory(DIRECTORY)


def load(preset, compile=True, cache_dir=None, metadata_sha256=None):
    """The model of ``preset`` (a registered name, a folder, a URL or hub handle), compiled.

    Verifies every file's sha256 (:func:`tfgen.presets.resolve`), imports the zoo module
    that defines the model, then builds it (:func:`tfgen.presets.load_preset`).
    """
    folder = presets.resolve(preset, cache_dir=cache_dir, metadata_sha256=metadata_sha256)
    family = read_config(folder).get("family")
    if family not in families.NAMES:
        raise ValueError(f"Preset {preset!r} holds no zoo family's model (family {family!r}); "
                         "import its module and use tfgen.presets.load_preset.")
    families.module(family, "model")  # registers the family's model classes with Keras
    return presets.load_preset(folder, compile=compile)


def available():
    """``{name: metadata}`` of every registered preset."""
    return {name: presets.read_metadata(folder) for name, folder in presets.registered().items()}


def read_config(folder):
    """A preset's ``config.json``: ``model`` (Keras serialisation) and run ``settings``."""
    return runs.read_json(os.path.join(folder, runs.CONFIG))
