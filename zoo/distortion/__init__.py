"""Distortion-targeted hierarchical VAEs and two-stage training, after "Mind Your Bits and
Errors: Prioritizing the Bits that Matter in Variational Autoencoders" (anonymous ICLR 2021
submission).

``model`` (:class:`TopDownVAE`, :class:`SecondaryVAE`, :func:`paper_optimizers`), ``configs``
(:class:`DistortionConfig`, named configurations), ``family`` (evaluation hooks), ``cli``
(``tfgen train distortion``, ``tfgen figures distortion``), ``figures``. The models are
imported on first use, so the command line's help needs no TensorFlow.
"""
from zoo.distortion.configs import CONFIGS, DistortionConfig  # noqa: F401

_LAZY = {"TopDownVAE": "zoo.distortion.model", "SecondaryVAE": "zoo.distortion.model",
         "paper_optimizers": "zoo.distortion.model"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.distortion' has no attribute {name!r}")
