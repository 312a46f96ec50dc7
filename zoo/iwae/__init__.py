"""VAE and IWAE of Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (ICLR 2016).

``model`` (:class:`IWAE`), ``configs`` (:class:`IWAEConfig`, named configurations), ``protocol``
(active units, unit removal, warm starts), ``family`` (evaluation hooks), ``cli`` (``tfgen
train iwae``, ``tfgen tune iwae``). The model is imported on first use, so the command line's
help needs no TensorFlow.
"""
from zoo.iwae.configs import CONFIGS, IWAEConfig  # noqa: F401

_LAZY = {"IWAE": "zoo.iwae.model", "paper_optimizer": "zoo.iwae.model"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.iwae' has no attribute {name!r}")
