"""The zoo's pretrained presets: one folder per preset in this package (see :mod:`tfgen.presets`).

``zoo.load("iwae_digits_k5_l1")`` returns a compiled model ready to ``evaluate``, ``fit`` or
``sample``; a local folder or a hub handle (``hf://owner/repo[@revision]``,
``kaggle://...``) works as well. :func:`available` gives every registered preset's metadata:
the shipped ones here and the user's own in :func:`tfgen.presets.user_directory`
(``$TFGEN_HOME/presets``), where ``tfgen preset build RUN --name NAME`` puts new ones
(:mod:`zoo.presets.build`); ``tfgen preset upload NAME hf://owner/repo`` shares them. What a
preset's test figure is, on which test data, and how it samples depends on its family
(:mod:`zoo.families`).
"""
from __future__ import annotations

import os

import keras

from tfgen import presets, runs
from zoo import families

DIRECTORY = os.path.dirname(os.path.abspath(__file__))
presets.register_directory(DIRECTORY)


def load(preset: str, compile: bool = True, cache_dir: str | None = None,
         metadata_sha256: str | None = None) -> keras.Model:
    """The model of ``preset`` (a registered name, a folder or a hub handle), compiled.

    Verifies every file's sha256 (:func:`tfgen.presets.resolve`), imports the zoo module
    that defines the model, then builds it (:func:`tfgen.presets.load_preset`).

    Raises:
        ValueError: the preset holds no zoo family's model; and see :func:`tfgen.presets.resolve`.
    """
    folder = presets.resolve(preset, cache_dir=cache_dir, metadata_sha256=metadata_sha256)
    family = read_config(folder).get("family")
    if family not in families.NAMES:
        raise ValueError(f"Preset {preset!r} holds no zoo family's model (family {family!r}); "
                         "import its module and use tfgen.presets.load_preset.")
    families.module(family, "model")  # registers the family's model classes with Keras
    return presets.load_preset(folder, compile=compile)


def available() -> dict[str, dict]:
    """``{name: metadata}`` of every registered preset, shipped and the user's."""
    return {name: presets.read_metadata(folder) for name, folder in presets.registered().items()}


def shipped() -> list[str]:
    """Names of the presets that ship with the package."""
    return sorted(name for name, folder in presets.registered().items()
                  if os.path.dirname(folder) == DIRECTORY)


def read_config(folder: str) -> dict:
    """A preset's ``config.json``: ``model`` (Keras serialisation) and run ``settings``."""
    return runs.read_json(os.path.join(folder, runs.CONFIG))
