"""tfgen zoo: one package per paper family (:mod:`zoo.families`), built from :mod:`tfgen`.

``zoo.load(name)`` returns a pretrained, compiled model; ``zoo.available()`` lists them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing zoo loads no TensorFlow
    import keras


def load(preset: str, **kwargs) -> keras.Model:
    """A pretrained, compiled zoo model; see :func:`zoo.presets.load`."""
    from zoo import presets

    return presets.load(preset, **kwargs)


def available() -> dict[str, dict]:
    """``{name: metadata}`` of every registered preset; see :func:`zoo.presets.available`."""
    from zoo import presets

    return presets.available()
