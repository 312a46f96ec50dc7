"""Sigmoid belief networks with an amortised binary posterior: Mohamed's tutorial's latent
binary VAE ("Building Machines that Imagine and Reason", 2016), as trained by Mnih & Gregor
(2014, NVIL) and Mnih & Rezende (2016, VIMCO).

``model`` (:class:`SBN`), ``configs`` (:class:`SBNConfig`, named configurations), ``family``
(evaluation hooks), ``cli`` (``tfgen train sbn``). The model is imported on first use, so the
command line's help needs no TensorFlow.
"""
from zoo.sbn.configs import CONFIGS, SBNConfig  # noqa: F401

_LAZY = {"SBN": "zoo.sbn.model"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.sbn' has no attribute {name!r}")
